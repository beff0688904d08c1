import assert from "node:assert/strict";
import { releaseMemoryWhenQuiet } from "./memory.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function burnCpu(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

Deno.test("releaseMemoryWhenQuiet: once quiet after a burst, not during it, not for light work", async () => {
  let releases = 0;
  const stop = releaseMemoryWhenQuiet({
    checkMs: 50,
    busyShare: 0.6,
    quietShare: 0.3,
    onRelease: () => releases++,
  });
  try {
    await sleep(200);
    assert.equal(releases, 0, "no work yet: nothing to release");
    // Light, steady work (as kubelet's polling): never a burst.
    for (let i = 0; i < 8; i++) {
      burnCpu(5);
      await sleep(50);
    }
    assert.equal(releases, 0, "light work: no release");
    // Busy across several checks (the timer fires late, after each burn: never quiet).
    for (let i = 0; i < 4; i++) {
      burnCpu(60);
      await sleep(0);
    }
    assert.equal(releases, 0, "busy: no release");
    await sleep(300);
    assert.equal(releases, 1, "quiet after work: one release");
    await sleep(300);
    assert.equal(releases, 1, "quiet, no new work: no more releases");
  } finally {
    stop();
  }
});

Deno.test("releaseMemoryWhenQuiet: start-up counted as work: the first quiet check releases", async () => {
  let releases = 0;
  const stop = releaseMemoryWhenQuiet({
    checkMs: 50,
    startUpWasWork: true,
    onRelease: () => releases++,
  });
  try {
    await sleep(300);
    assert.equal(releases, 1);
  } finally {
    stop();
  }
});
