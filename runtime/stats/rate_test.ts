import assert from "node:assert/strict";
import { CpuRateTracker } from "./rate.ts";

Deno.test("CpuRateTracker.rate: the last rate is answered inside the window", () => {
  const t = new CpuRateTracker(1000);
  assert.equal(t.rate("c:a", 0n, 0), null);
  assert.equal(t.rate("c:a", 500_000_000n, 1000), 500_000_000n);
  assert.equal(t.rate("c:a", 900_000_000n, 1200), 500_000_000n); // too soon: last rate
});

Deno.test("CpuRateTracker.retain: samples and rates of objects that went away are dropped", () => {
  const t = new CpuRateTracker(1000);
  for (let i = 0; i < 100; i++) {
    t.rate(`c:${i}`, 0n, 0);
    t.rate(`c:${i}`, 1n, 1000);
  }
  t.retain(new Set(["7"]));
  assert.equal(t.size, 1);
  // A forgotten object starts over: no rate from the samples of its namesake.
  t.retain(new Set());
  assert.equal(t.rate("c:7", 5n, 2500), null);
});
