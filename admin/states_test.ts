import assert from "node:assert/strict";
import { isContainerExited, isContainerRunning, isPodReady, stateWord } from "./states.ts";

Deno.test("states: one predicate per state kind", () => {
  assert.equal(isPodReady("SANDBOX_READY"), true);
  assert.equal(isPodReady("SANDBOX_NOTREADY"), false);
  assert.equal(isPodReady(undefined), false);
  assert.equal(isContainerRunning("CONTAINER_RUNNING"), true);
  assert.equal(isContainerRunning("CONTAINER_EXITED"), false);
  assert.equal(isContainerExited("CONTAINER_EXITED"), true);
  assert.equal(isContainerExited("CONTAINER_CREATED"), false);
});

Deno.test("states: display words", () => {
  assert.equal(stateWord("CONTAINER_RUNNING"), "running");
  assert.equal(stateWord("SANDBOX_NOTREADY"), "notready");
  assert.equal(stateWord(undefined), "");
});
