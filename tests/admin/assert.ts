/** Small assertion helpers for the admin tests (JSR's @std/assert cannot be fetched here). */
import nodeAssert from "node:assert/strict";

export function assert(value: unknown, message?: string): asserts value {
  nodeAssert.ok(value, message ?? "assertion failed");
}
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}
export function assertMatch(actual: string, re: RegExp): void {
  nodeAssert.match(actual, re);
}
export function assertStringIncludes(actual: string, expected: string): void {
  if (!actual.includes(expected)) {
    throw new nodeAssert.AssertionError({
      message: `expected ${JSON.stringify(actual)} to include ${JSON.stringify(expected)}`,
      actual,
      expected,
    });
  }
}
