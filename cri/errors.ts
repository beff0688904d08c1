/** The one place domain errors become gRPC status codes. */
import { status as GrpcStatus } from "@grpc/grpc-js";
import { type ErrorKind, errorKind, errorMessage } from "../core/errors.ts";

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
