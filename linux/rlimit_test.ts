import assert from "node:assert/strict";
import { fileLimit, raiseFileLimit } from "./rlimit.ts";

Deno.test("raiseFileLimit: soft limit ends at the hard limit", () => {
  const before = fileLimit();
  assert.ok(before.soft <= before.hard);
  const after = raiseFileLimit();
  assert.equal(after.soft, after.hard);
  assert.equal(after.hard, before.hard);
  const status = Deno.readTextFileSync("/proc/self/limits");
  const row = /Max open files\s+(\S+)\s+(\S+)/.exec(status)!;
  const parse = (s: string) => s === "unlimited" ? Infinity : Number(s);
  assert.deepEqual({ soft: parse(row[1]), hard: parse(row[2]) }, after);
});
