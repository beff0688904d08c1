import assert from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import * as E from "../../core/errors.ts";
import { grpcCode, toGrpcStatus } from "../../cri/errors.ts";

Deno.test("errors: every domain error maps to its gRPC code", () => {
  const cases: [Error, status][] = [
    [new E.NotFoundError("x"), status.NOT_FOUND],
    [new E.AlreadyExistsError("x"), status.ALREADY_EXISTS],
    [new E.InvalidArgumentError("x"), status.INVALID_ARGUMENT],
    [new E.FailedPreconditionError("x"), status.FAILED_PRECONDITION],
    [new E.UnavailableError("x"), status.UNAVAILABLE],
    [new E.DeadlineExceededError("x"), status.DEADLINE_EXCEEDED],
    [new E.UnauthenticatedError("x"), status.UNAUTHENTICATED],
    [new E.PermissionDeniedError("x"), status.PERMISSION_DENIED],
    [new E.ResourceExhaustedError("x"), status.RESOURCE_EXHAUSTED],
    [new E.CancelledError("x"), status.CANCELLED],
    [new E.UnimplementedError("x"), status.UNIMPLEMENTED],
    [new E.InternalError("x"), status.INTERNAL],
  ];
  for (const [err, code] of cases) assert.equal(grpcCode(err), code, err.name);
});

Deno.test("errors: anything else thrown is INTERNAL with its message", () => {
  assert.deepEqual(toGrpcStatus(new TypeError("boom")), {
    code: status.INTERNAL,
    details: "boom",
  });
  assert.deepEqual(toGrpcStatus("a string"), { code: status.INTERNAL, details: "a string" });
  assert.deepEqual(toGrpcStatus(undefined), { code: status.INTERNAL, details: "undefined" });
});

Deno.test("errors: subclasses keep their kind and name, and the cause", () => {
  const cause = new Error("root cause");
  const e = new E.NotFoundError("container abc not found", { cause });
  assert.equal(e.kind, "not_found");
  assert.equal(e.name, "NotFoundError");
  assert.equal(e.cause, cause);
  assert.ok(e instanceof E.SkiffError);
});
