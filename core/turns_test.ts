/** Turns: arrival order, and a connection whose replies wait holds only its own calls. */
import assert from "node:assert/strict";
import { type TurnGate, Turns } from "./turns.ts";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits (on a loaded machine too) until `done` holds; fails after two seconds. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + 2000;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await settle(1);
  }
}

Deno.test("turns: one call per turn, in arrival order", async () => {
  const turns = new Turns();
  const ran: number[] = [];
  for (let i = 0; i < 5; i++) turns.run(() => ran.push(i));
  assert.deepStrictEqual(ran, [], "nothing runs before a turn");
  await until(() => ran.length === 5, "five turns");
  assert.deepStrictEqual(ran, [0, 1, 2, 3, 4]);
});

Deno.test("turns: a gate with replies waiting holds its calls; other calls pass; order kept", async () => {
  const turns = new Turns();
  const busy: TurnGate & { repliesWaiting: boolean } = { repliesWaiting: true };
  const free: TurnGate = { repliesWaiting: false };
  const ran: string[] = [];
  turns.run(() => ran.push("a1"), busy);
  turns.run(() => ran.push("b1"), free);
  turns.run(() => ran.push("a2"), busy);
  turns.run(() => ran.push("b2"));
  await until(() => ran.length === 2, "the other connection's calls");
  await settle(10);
  assert.deepStrictEqual(ran, ["b1", "b2"], "the held connection's calls wait; others pass");
  busy.repliesWaiting = false;
  await until(() => ran.length === 4, "the released calls");
  assert.deepStrictEqual(ran, ["b1", "b2", "a1", "a2"], "released in their own order");
});

Deno.test("turns: a gate that never opens holds a call for a bounded time only", async () => {
  const turns = new Turns();
  const stuck: TurnGate = { repliesWaiting: true };
  let ranAt = 0;
  const t0 = performance.now();
  turns.run(() => (ranAt = performance.now()), stuck);
  await until(() => ranAt > 0, "the call runs although the client never reads");
  const held = ranAt - t0;
  assert.ok(held >= 45, `held ${held.toFixed(0)} ms, less than the hold bound`);
});
