/**
 * Errors as RFC 9457 problem documents. The `code` is the gRPC code name the same failure
 * gets on the CRI socket (one mapping: cri/errors.ts); the HTTP status follows Google's
 * gRPC↔HTTP table, except FAILED_PRECONDITION, which is 409 Conflict here because for an
 * operator it almost always means "the object is in the wrong state" (an image in use, a
 * container still running), not a malformed request.
 */
import { errorMessage } from "../core/errors.ts";
import { grpcCode, grpcCodeName, GrpcStatus } from "../cri/errors.ts";

const HTTP_STATUS: Partial<Record<GrpcStatus, number>> = {
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 409,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  413: "Content Too Large",
  429: "Too Many Requests",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

export interface Problem {
  type: string;
  title: string;
  status: number;
  /** The gRPC status code name, e.g. NOT_FOUND: the same as the CRI reports. */
  code: string;
  detail: string;
}

export function problem(status: number, code: string, detail: string): Problem {
  return { type: "about:blank", title: TITLES[status] ?? "Error", status, code, detail };
}

export function problemFromError(err: unknown): Problem {
  const code = grpcCode(err);
  return problem(HTTP_STATUS[code] ?? 500, grpcCodeName(code), errorMessage(err));
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}
