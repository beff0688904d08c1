import assert from "node:assert/strict";
import { WorkSlices } from "./work_slices.ts";

/** Busy for `ms` without giving the loop a turn. */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* work */ }
}

Deno.test("WorkSlices: a slice that is used up gives the event loop a real turn", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    // Awaiting a microtask between pieces of work is no turn: the timer never fires.
    for (let i = 0; i < 20; i++) {
      spin(1);
      await Promise.resolve();
    }
    assert.equal(ticks, 0);
    const slices = new WorkSlices(2);
    for (let i = 0; i < 20; i++) {
      spin(1);
      await slices.yieldIfDue();
    }
    assert.ok(ticks >= 3, `the 1 ms timer fired ${ticks} times in 20 ms of sliced work`);
  } finally {
    clearInterval(timer);
  }
});

Deno.test("WorkSlices: no turn is taken before the slice is used up", async () => {
  const slices = new WorkSlices(10_000);
  const deadline = slices.deadline;
  let other = false;
  setTimeout(() => other = true, 0);
  await slices.yieldIfDue();
  assert.equal(other, false);
  assert.equal(slices.deadline, deadline);
});
