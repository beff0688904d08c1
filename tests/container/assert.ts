/** Small assertion helpers over node:assert (JSR's @std/assert cannot be fetched here). */
import nodeAssert from "node:assert/strict";

export function assert(cond: unknown, msg?: string): asserts cond {
  nodeAssert.ok(cond, msg ?? "assertion failed");
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg ?? "values differ");
}

export function assertMatch(actual: string, re: RegExp, msg?: string): void {
  nodeAssert.match(actual, re, msg ?? `no match for ${re}`);
}

/** Asserts `fn` throws an instance of `cls` whose message includes `includes`. */
export function assertThrows(
  fn: () => unknown,
  cls: abstract new (...args: never[]) => Error = Error,
  includes = "",
): void {
  try {
    fn();
  } catch (err) {
    nodeAssert.ok(err instanceof cls, `expected ${cls.name}, got ${err}`);
    nodeAssert.ok(
      (err as Error).message.includes(includes),
      `"${(err as Error).message}" lacks "${includes}"`,
    );
    return;
  }
  nodeAssert.fail("expected an error to be thrown");
}

export async function assertRejects(
  fn: () => Promise<unknown>,
  cls: abstract new (...args: never[]) => Error = Error,
  includes = "",
): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    nodeAssert.ok(err instanceof cls, `expected ${cls.name}, got ${err}`);
    nodeAssert.ok(
      (err as Error).message.includes(includes),
      `"${(err as Error).message}" lacks "${includes}"`,
    );
    return err as Error;
  }
  nodeAssert.fail("expected a rejection");
}
