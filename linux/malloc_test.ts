import assert from "node:assert/strict";
import { trimWhenQuiet } from "./malloc.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function burnCpu(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

Deno.test("trimWhenQuiet: trims once quiet after work, not while busy, not again without work", async () => {
  let trims = 0;
  const stop = trimWhenQuiet({ checkMs: 50, workMs: 100, quietShare: 0.5, onTrim: () => trims++ });
  try {
    await sleep(200);
    assert.equal(trims, 0, "no work yet: nothing to trim");
    // Busy across several checks (the timer fires late, after each burn: never quiet).
    for (let i = 0; i < 4; i++) {
      burnCpu(60);
      await sleep(0);
    }
    assert.equal(trims, 0, "busy: no trim");
    await sleep(300);
    assert.equal(trims, 1, "quiet after work: one trim");
    await sleep(300);
    assert.equal(trims, 1, "quiet, no new work: no more trims");
  } finally {
    stop();
  }
});
