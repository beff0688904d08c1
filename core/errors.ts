/**
 * Domain errors. Every module throws these; `cri/errors.ts` maps them to gRPC
 * status codes and `admin/` to HTTP statuses, each in one place.
 */

export type ErrorKind =
  | "not_found"
  | "already_exists"
  | "invalid_argument"
  | "failed_precondition"
  | "unavailable"
  | "deadline_exceeded"
  | "unauthenticated"
  | "permission_denied"
  | "resource_exhausted"
  | "cancelled"
  | "unimplemented"
  | "internal";

export class SkiffError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
    this.name = new.target.name;
  }
}

export class NotFoundError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("not_found", message, options);
  }
}
export class AlreadyExistsError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("already_exists", message, options);
  }
}
export class InvalidArgumentError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("invalid_argument", message, options);
  }
}
export class FailedPreconditionError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("failed_precondition", message, options);
  }
}
export class UnavailableError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("unavailable", message, options);
  }
}
export class DeadlineExceededError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("deadline_exceeded", message, options);
  }
}
export class UnauthenticatedError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("unauthenticated", message, options);
  }
}
export class PermissionDeniedError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("permission_denied", message, options);
  }
}
export class ResourceExhaustedError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("resource_exhausted", message, options);
  }
}
export class CancelledError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("cancelled", message, options);
  }
}
export class UnimplementedError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("unimplemented", message, options);
  }
}
export class InternalError extends SkiffError {
  constructor(message: string, options?: ErrorOptions) {
    super("internal", message, options);
  }
}

/** The kind of any thrown value: unknown throwables count as internal errors. */
export function errorKind(err: unknown): ErrorKind {
  return err instanceof SkiffError ? err.kind : "internal";
}

/** A message fit for a person, whatever was thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
