import assert from "node:assert/strict";
import { findProcesses, isAlive, statState } from "./processes.ts";

Deno.test("statState: the letter after the command, whatever the command holds", () => {
  assert.equal(statState("42 (sleep) S 1 42 42 0"), "S");
  assert.equal(statState("42 (a) b (c)) Z 1 42"), "Z");
});

Deno.test("isAlive: this process's parent is, pid 0 and absurd pids are not", () => {
  assert.equal(isAlive(Deno.ppid), true);
  assert.equal(isAlive(0), false);
  assert.equal(isAlive(-1), false);
  assert.equal(isAlive(2 ** 31 - 1), false);
});

Deno.test("findProcesses: never this process itself", () => {
  assert.equal(findProcesses({ cmdlineIncludes: "" }).includes(Deno.pid), false);
});
