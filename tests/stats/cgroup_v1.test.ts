/**
 * cgroup v1 readers FOR REAL: a cgroup under each v1 controller, a process in it that
 * allocates 64 MiB and burns CPU, and stats that must show it. Removed afterwards, pass or
 * fail.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { CpuRateTracker, locateByPid, readCgroup } from "../../runtime/stats/mod.ts";
import { randomHex } from "../helpers/env.ts";
import { type Hog, makeCgroup, startHog, v1Missing } from "./helpers.ts";

const MiB = 1024 * 1024;
const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
const missing = v1Missing();
if (missing) console.error(`\n!!! SKIPPING cgroup v1 tests: missing ${missing} !!!\n`);

Deno.test({
  name: "cgroup v1: a process burning CPU and holding 64 MiB shows in the stats",
  ignore: missing !== null,
  async fn() {
    const cg = await makeCgroup(`/skiff-test-${randomHex(10)}`);
    let hog: Hog | undefined;
    try {
      assert(cg.dirs.version === 1);
      const empty = await readCgroup(cg.dirs);
      assertEquals(empty.cpu?.usageNs, 0n);
      assertEquals(empty.pids, 0);

      hog = await startHog(cg.procsFiles);
      assertEquals(await locateByPid(hog.pid), cg.dirs, "/proc/<pid>/cgroup resolves to ours");

      const rates = new CpuRateTracker();
      const first = await readCgroup(cg.dirs);
      assertEquals(rates.observe("c", first.cpu!.usageNs, first.at), null);
      await new Promise((r) => setTimeout(r, 600));
      const second = await readCgroup(cg.dirs);
      const rate = rates.observe("c", second.cpu!.usageNs, second.at);

      assert(second.cpu!.usageNs > first.cpu!.usageNs, "CPU time rises");
      // One busy thread for 600 ms: a real share of a core even on a loaded machine (the
      // rate is what the thread got, so a floor near one core would only measure the load).
      assert(typeof rate === "bigint" && rate > 50_000_000n, `usage_nano_cores ${rate}`);
      const mem = second.memory!;
      assert(mem.usageBytes >= 64 * MiB, `usage ${mem.usageBytes}`);
      assert(mem.workingSetBytes >= 64 * MiB, `working set ${mem.workingSetBytes}`);
      assert(mem.workingSetBytes <= mem.usageBytes);
      assert(mem.rssBytes >= 64 * MiB, `rss ${mem.rssBytes}`);
      // 64 MiB of 4 KiB pages touched once each (transparent huge pages may fold some).
      assert(mem.pageFaults > 1000, `page faults ${mem.pageFaults}`);
      assert(mem.majorPageFaults >= 0);
      assertEquals(mem.limitBytes, null, "no limit was set");
      assert(second.pids! >= 1, "the hog's threads are counted");
      if (cg.dirs.unified && (await exists(`${cg.dirs.unified}/cpu.pressure`))) {
        // Hybrid host: PSI from the v2 twin of the cgroup.
        assert(second.cpu!.psi && second.memory!.psi && second.ioPsi, "PSI read");
        assert(second.cpu!.psi.some.totalNs >= 0n);
      }
    } finally {
      await hog?.stop();
      await cg.remove();
    }
    assert(
      cg.dirs.version === 1 && !(await Deno.stat(cg.dirs.memory!).then(() => true, () => false)),
      "cgroup removed",
    );
  },
});

Deno.test({
  name: "cgroup v1: a memory limit shows as limit and available bytes",
  ignore: missing !== null,
  async fn() {
    const cg = await makeCgroup(`/skiff-test-${randomHex(10)}`);
    try {
      assert(cg.dirs.version === 1 && cg.dirs.memory);
      await Deno.writeTextFile(`${cg.dirs.memory}/memory.limit_in_bytes`, String(256 * MiB));
      const s = await readCgroup(cg.dirs);
      assertEquals(s.memory?.limitBytes, 256 * MiB);
      assertEquals(s.memory?.availableBytes, 256 * MiB - s.memory!.workingSetBytes);
    } finally {
      await cg.remove();
    }
  },
});

Deno.test("the rate tracker keeps its sample inside the minimum window", () => {
  const r = new CpuRateTracker(1000);
  assertEquals(r.observe("a", 0n, 0), null);
  assertEquals(r.observe("a", 100n, 10), "too-soon");
  assertEquals(r.observe("a", 500_000_000n, 1000), 500_000_000n);
  assertEquals(r.observe("a", 100n, 3000), null, "a counter going backwards is a new cgroup");
  r.retain(new Set(["b"]));
  assertEquals(r.size, 0);
});
