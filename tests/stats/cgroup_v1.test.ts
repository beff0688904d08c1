/**
 * cgroup v1 readers FOR REAL: a cgroup under each v1 controller, a process in it that
 * allocates 64 MiB and burns CPU, and stats that must show it. Removed afterwards, pass or
 * fail.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  type CgroupDirs,
  CpuRateTracker,
  hostCgroupMounts,
  hostCgroupVersion,
  locate,
  locateByPid,
  readCgroup,
} from "../../runtime/stats/mod.ts";
import { isRoot, randomHex } from "../helpers/env.ts";

const MiB = 1024 * 1024;

function v1Prerequisite(): string | null {
  if (!isRoot()) return "root";
  const mounts = hostCgroupMounts();
  if (hostCgroupVersion(mounts) !== 1) return "cgroup v1 (this host runs v2; v2 is fixture-tested)";
  for (const c of ["cpuacct", "memory", "pids"]) if (!mounts.v1.has(c)) return `v1 ${c} controller`;
  return null;
}
const missing = v1Prerequisite();
if (missing) console.error(`\n!!! SKIPPING cgroup v1 tests: missing ${missing} !!!\n`);

/** Allocates and touches 64 MiB, says "ready", then burns one core until stdin closes. */
const HOG = `
const hold = new Uint8Array(64 * 1024 * 1024).fill(7);
console.log("ready");
let stop = false;
(async () => { for await (const _ of Deno.stdin.readable) {} stop = true; })();
while (!stop) {
  const until = Date.now() + 50;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + hold[x % hold.length]);
  await new Promise((r) => setTimeout(r, 0));
}
`;

async function makeCgroup(rel: string): Promise<{ dirs: CgroupDirs; remove: () => Promise<void> }> {
  const mounts = hostCgroupMounts();
  const made: string[] = [];
  // cpu too, so the process's cgroup matches on every controller kubelet looks at.
  for (const c of new Set(["cpu", "cpuacct", "memory", "pids"])) {
    const root = mounts.v1.get(c);
    if (!root || made.includes(`${root}${rel}`)) continue;
    await Deno.mkdir(`${root}${rel}`);
    made.push(`${root}${rel}`);
  }
  return {
    dirs: locate(rel, mounts),
    remove: async () => {
      for (const d of made) {
        // The memory cgroup may stay busy for a moment after its last task exits.
        for (let i = 0; i < 50; i++) {
          try {
            await Deno.remove(d);
            break;
          } catch (err) {
            if (err instanceof Deno.errors.NotFound) break;
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      }
    },
  };
}

Deno.test({
  name: "cgroup v1: a process burning CPU and holding 64 MiB shows in the stats",
  ignore: missing !== null,
  sanitizeResources: false,
  async fn() {
    const rel = `/skiff-test-${randomHex(10)}`;
    const cg = await makeCgroup(rel);
    let child: Deno.ChildProcess | undefined;
    try {
      assert(cg.dirs.version === 1);
      const empty = await readCgroup(cg.dirs);
      assertEquals(empty.cpu?.usageNs, 0n);
      assertEquals(empty.pids, 0);

      const mounts = hostCgroupMounts();
      const procsFiles = [...new Set(["cpu", "cpuacct", "memory", "pids"])]
        .map((c) => `${mounts.v1.get(c)}${rel}/cgroup.procs`);
      // The shell joins the cgroups before exec, so every page the hog touches is charged.
      child = new Deno.Command("sh", {
        args: [
          "-c",
          'for f in "$@"; do echo $$ > "$f" || exit 1; done; exec "$DENO" eval "$HOG"',
          "sh",
          ...procsFiles,
        ],
        env: { DENO: Deno.execPath(), HOG, NO_COLOR: "1" },
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("ready")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`hog exited before allocating: ${out}`);
        out += value;
      }
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});

      const byPid = await locateByPid(child.pid);
      assertEquals(byPid, cg.dirs, "the process's /proc/<pid>/cgroup resolves to our cgroup");

      const rates = new CpuRateTracker();
      const first = await readCgroup(cg.dirs);
      assertEquals(rates.observe("c", first.cpu!.usageNs, first.at), null);
      await new Promise((r) => setTimeout(r, 600));
      const second = await readCgroup(cg.dirs);
      const rate = rates.observe("c", second.cpu!.usageNs, second.at);

      assert(second.cpu!.usageNs > first.cpu!.usageNs, "CPU time rises");
      // One busy thread for 600 ms: well above a third of a core on a 2-core machine.
      assert(rate !== null && rate > 300_000_000n, `usage_nano_cores ${rate} shows a busy core`);
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
    } finally {
      if (child) {
        await child.stdin.close().catch(() => {});
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        await child.status;
      }
      await cg.remove();
    }
    for (const d of [cg.dirs.version === 1 ? cg.dirs.memory : null]) {
      if (d) assert(!(await Deno.stat(d).then(() => true, () => false)), "cgroup removed");
    }
  },
});

Deno.test({
  name: "cgroup v1: a memory limit shows as limit and available bytes",
  ignore: missing !== null,
  async fn() {
    const rel = `/skiff-test-${randomHex(10)}`;
    const cg = await makeCgroup(rel);
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
