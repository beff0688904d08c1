/** The one place domain errors become gRPC status codes. */
import { type ErrorKind, errorKind, errorMessage } from "../core/errors.ts";

/** gRPC status codes (grpc/doc/statuscodes.md); the enum maps both ways, code ⇄ name. */
export enum GrpcStatus {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

const CODES: Record<ErrorKind, GrpcStatus> = {
  not_found: GrpcStatus.NOT_FOUND,
  already_exists: GrpcStatus.ALREADY_EXISTS,
  invalid_argument: GrpcStatus.INVALID_ARGUMENT,
  failed_precondition: GrpcStatus.FAILED_PRECONDITION,
  unavailable: GrpcStatus.UNAVAILABLE,
  deadline_exceeded: GrpcStatus.DEADLINE_EXCEEDED,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  cancelled: GrpcStatus.CANCELLED,
  unimplemented: GrpcStatus.UNIMPLEMENTED,
  internal: GrpcStatus.INTERNAL,
};

export function grpcCode(err: unknown): GrpcStatus {
  return CODES[errorKind(err)];
}

/** The gRPC code's canonical name, e.g. `NOT_FOUND`, for logs and metrics labels. */
export function grpcCodeName(code: GrpcStatus): string {
  return GrpcStatus[code] ?? String(code);
}

export interface GrpcErrorStatus {
  code: GrpcStatus;
  details: string;
}

export function toGrpcStatus(err: unknown): GrpcErrorStatus {
  return { code: grpcCode(err), details: errorMessage(err) };
}
