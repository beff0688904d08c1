import assert from "node:assert/strict";
import { InternalError } from "../../core/errors.ts";
import {
  canRemove,
  canStart,
  canStop,
  canTransition,
  type ContainerPhase,
  type ContainerStateful,
  hasExited,
  initialState,
  isLive,
  phaseOf,
  PHASES,
  transition,
} from "./state.ts";

/** Every transition the machine has; every other pair is refused. */
const ALLOWED: [ContainerPhase, ContainerPhase][] = [
  ["creating", "created"],
  ["created", "running"],
  ["created", "exited"],
  ["running", "unknown"],
  ["running", "exited"],
  ["unknown", "exited"],
];

function recordIn(phase: ContainerPhase): ContainerStateful {
  const rec: ContainerStateful = { id: "c1", ...initialState() };
  const path: Record<ContainerPhase, ContainerPhase[]> = {
    creating: [],
    created: ["created"],
    running: ["created", "running"],
    unknown: ["created", "running", "unknown"],
    exited: ["created", "exited"],
  };
  for (const p of path[phase]) transition(rec, p);
  assert.equal(phaseOf(rec), phase);
  return rec;
}

Deno.test("state: a container begins creating (CREATED with the creating flag)", () => {
  const rec: ContainerStateful = { id: "c1", ...initialState() };
  assert.equal(rec.state, "CONTAINER_CREATED");
  assert.equal(phaseOf(rec), "creating");
});

Deno.test("state: phases map onto CRI states and the creating flag", () => {
  assert.equal(phaseOf({ id: "x", state: "CONTAINER_CREATED" }), "created");
  assert.equal(phaseOf({ id: "x", state: "CONTAINER_CREATED", creating: false }), "created");
  assert.equal(phaseOf({ id: "x", state: "CONTAINER_RUNNING" }), "running");
  assert.equal(phaseOf({ id: "x", state: "CONTAINER_UNKNOWN" }), "unknown");
  assert.equal(phaseOf({ id: "x", state: "CONTAINER_EXITED" }), "exited");
});

for (const from of PHASES) {
  for (const to of PHASES) {
    const allowed = ALLOWED.some(([f, t]) => f === from && t === to);
    Deno.test(`state: ${from} → ${to} is ${allowed ? "allowed" : "refused"}`, () => {
      assert.equal(canTransition(from, to), allowed);
      const rec = recordIn(from);
      if (allowed) {
        transition(rec, to);
        assert.equal(phaseOf(rec), to);
        assert.equal(rec.creating, undefined, "the creating flag is gone once made");
      } else {
        const before = { ...rec };
        assert.throws(() => transition(rec, to), InternalError);
        assert.deepEqual(rec, before, "a refused transition changes nothing");
      }
    });
  }
}

Deno.test("state: guards by phase", () => {
  const table: Record<ContainerPhase, [boolean, boolean, boolean, boolean, boolean]> = {
    //         isLive canStart canStop canRemove hasExited
    creating: [false, false, false, false, false],
    created: [false, true, false, true, false],
    running: [true, false, true, true, false],
    unknown: [true, false, true, true, false],
    exited: [false, false, false, true, true],
  };
  for (const phase of PHASES) {
    const rec = recordIn(phase);
    assert.deepEqual(
      [isLive(rec), canStart(rec), canStop(rec), canRemove(rec), hasExited(rec)],
      table[phase],
      phase,
    );
  }
});
