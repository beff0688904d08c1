/**
 * Shared by the hardening tests: every refusal a hostile client gets must carry the right
 * gRPC code and must never reveal where Skiff keeps its own state. `expectRefusal` checks
 * both for one call; every message checked is also kept, and `assertNoHostPaths` re-checks
 * them all (for a test's final sweep).
 */
import assert from "node:assert/strict";
import { CriCallError } from "../../cri/client.ts";
import type { TestSkiff } from "../helpers/skiff.ts";

const seen: { where: string; message: string }[] = [];

/** Skiff's own paths that no client may see: its root, its state dir and their parent. */
export function statePaths(skiff: TestSkiff): string[] {
  return [skiff.rootDir, skiff.stateDir, skiff.dir];
}

/** Fails if `message` names one of `skiff`'s own paths. */
export function assertNoHostPaths(skiff: TestSkiff, message: string, where = "reply"): void {
  seen.push({ where, message });
  for (const p of statePaths(skiff)) {
    assert(!message.includes(p), `${where} reveals Skiff's path ${p}: ${message}`);
  }
}

/**
 * Awaits `call`, which must fail with gRPC code `code` (a name such as "INVALID_ARGUMENT");
 * returns the error's details after checking they reveal no host path of Skiff's.
 */
export async function expectRefusal(
  skiff: TestSkiff,
  call: Promise<unknown>,
  code: string,
  what = "call",
): Promise<string> {
  let err: unknown;
  try {
    await call;
  } catch (e) {
    err = e;
  }
  assert(err instanceof CriCallError, `${what}: expected ${code}, got ${err ?? "success"}`);
  assert.equal(err.codeName, code, `${what}: ${err.message}`);
  assertNoHostPaths(skiff, err.details, what);
  return err.details;
}

/** Every message checked so far in this process (for a summary line). */
export function messagesChecked(): number {
  return seen.length;
}
