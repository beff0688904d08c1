/**
 * Errors as RFC 9457 problem documents. The `code` is the gRPC code name the same failure
 * gets on the CRI socket (one mapping: cri/errors.ts); the HTTP status follows Google's
 * gRPC↔HTTP table, except FAILED_PRECONDITION, which is 409 Conflict here because for an
 * operator it almost always means "the object is in the wrong state" (an image in use, a
 * container still running), not a malformed request.
 */
import { errorMessage } from "../core/errors.ts";
import { grpcCode, grpcCodeName } from "../cri/errors.ts";

/** By gRPC code name, so the admin API needs no gRPC library of its own. */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  CANCELLED: 499,
  UNKNOWN: 500,
  INVALID_ARGUMENT: 400,
  DEADLINE_EXCEEDED: 504,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  PERMISSION_DENIED: 403,
  RESOURCE_EXHAUSTED: 429,
  FAILED_PRECONDITION: 409,
  ABORTED: 409,
  OUT_OF_RANGE: 400,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DATA_LOSS: 500,
  UNAUTHENTICATED: 401,
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
  const code = grpcCodeName(grpcCode(err));
  return problem(HTTP_STATUS[code] ?? 500, code, errorMessage(err));
}

export function problemResponse(p: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(p), {
    status: p.status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}
