import assert from "node:assert/strict";
import { InternalError } from "../../core/errors.ts";
import {
  assertTransition,
  canTransition,
  criStateOf,
  eventsFor,
  isVisible,
  type SandboxState,
  stateOf,
} from "./state.ts";

const ALL: SandboxState[] = ["creating", "ready", "notready", "removed"];
const ALLOWED = new Set([
  "creating→ready",
  "creating→removed",
  "ready→notready",
  "ready→removed",
  "notready→removed",
]);

Deno.test("exactly the transitions of the diagram are allowed", () => {
  for (const from of ALL) {
    for (const to of ALL) {
      const key = `${from}→${to}`;
      assert.equal(canTransition(from, to), ALLOWED.has(key), key);
      if (ALLOWED.has(key)) assertTransition(from, to);
      else assert.throws(() => assertTransition(from, to), InternalError, key);
    }
  }
});

Deno.test("run raises CREATED then STARTED; an undone run raises nothing", () => {
  assert.deepEqual(eventsFor("creating", "ready"), [
    "CONTAINER_CREATED_EVENT",
    "CONTAINER_STARTED_EVENT",
  ]);
  assert.deepEqual(eventsFor("creating", "removed"), []);
});

Deno.test("stop raises STOPPED, but not when recovery finds a pod broken", () => {
  assert.deepEqual(eventsFor("ready", "notready"), ["CONTAINER_STOPPED_EVENT"]);
  assert.deepEqual(eventsFor("ready", "notready", "recovery"), []);
});

Deno.test("remove of a ready pod stops it first; of a stopped one only deletes", () => {
  assert.deepEqual(eventsFor("ready", "removed"), [
    "CONTAINER_STOPPED_EVENT",
    "CONTAINER_DELETED_EVENT",
  ]);
  assert.deepEqual(eventsFor("notready", "removed"), ["CONTAINER_DELETED_EVENT"]);
});

Deno.test("no events for a transition the state machine refuses", () => {
  assert.throws(() => eventsFor("notready", "ready"), InternalError);
  assert.throws(() => eventsFor("removed", "removed"), InternalError);
});

Deno.test("half-made sandboxes are invisible; the CRI state is READY only when ready", () => {
  assert.equal(isVisible("creating"), false);
  assert.equal(isVisible("ready"), true);
  assert.equal(isVisible("notready"), true);
  assert.equal(criStateOf("ready"), "SANDBOX_READY");
  assert.equal(criStateOf("notready"), "SANDBOX_NOTREADY");
  assert.equal(stateOf({ phase: "ready" }), "SANDBOX_READY");
  assert.equal(stateOf({ phase: "creating" }), "SANDBOX_NOTREADY");
});
