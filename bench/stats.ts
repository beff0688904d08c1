/**
 * bench/stats: cost of ListContainerStats-style collection over real containers.
 *
 *   deno run --allow-all bench/stats.ts [--containers 10] [--rounds 50]
 *
 * Starts `containers` sleeping busybox containers (real runc + conmon, through the container
 * runtime fixture), then times `rounds` collections by the stats collector (cgroup location
 * from each container's pid, every cgroup file, writable-layer walk with its cache off) and,
 * in the same process, the floor: reading just the three files CPU and memory need
 * (cpuacct.usage, memory.usage_in_bytes, memory.stat) for each container. Prints p50/p95 of
 * both and their ratio. Removes everything it made.
 */
import { parseArgs } from "node:util";
import type { ContainerForStats, StatsTargets } from "../runtime/contracts.ts";
import { type CgroupDirs, locateByPid, StatsCollector } from "../runtime/stats/mod.ts";
import { containerForStats } from "../runtime/stats/targets.ts";
import { RuntimeFixture, runtimePrerequisitesMissing } from "../tests/container/fixture.ts";

const { values } = parseArgs({
  options: {
    containers: { type: "string", default: "10" },
    rounds: { type: "string", default: "50" },
  },
});
const N = Number(values.containers);
const ROUNDS = Number(values.rounds);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

if (runtimePrerequisitesMissing()) Deno.exit(0);
const f = await RuntimeFixture.create();
try {
  const sb = await f.pod();
  const ids: string[] = [];
  for (let i = 0; i < N; i++) ids.push(await f.run(sb, { command: ["sleep", "600"] }));
  const targets: StatsTargets = {
    listContainersForStats: () =>
      f.service.list().map((r): ContainerForStats => containerForStats(r, "")),
    getContainerForStats: () => undefined,
    listSandboxesForStats: () => [],
    getSandboxForStats: () => undefined,
  };
  const collector = new StatsCollector(targets, { fsCacheMs: 0, minRateWindowMs: 0 });
  const dirs: CgroupDirs[] = [];
  for (const id of ids) dirs.push((await locateByPid(f.service.get(id).pid))!);

  const skiff: number[] = [];
  const floor: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let t0 = performance.now();
    const got = await collector.listContainerUsage();
    skiff.push(performance.now() - t0);
    if (got.length !== N) throw new Error(`collected ${got.length} of ${N}`);
    t0 = performance.now();
    await Promise.all(dirs.map(async (d) => {
      if (d.version !== 1) throw new Error("the floor reads cgroup v1 files");
      await Deno.readTextFile(`${d.cpuacct}/cpuacct.usage`);
      await Deno.readTextFile(`${d.memory}/memory.usage_in_bytes`);
      await Deno.readTextFile(`${d.memory}/memory.stat`);
    }));
    floor.push(performance.now() - t0);
  }
  const fmt = (xs: number[]) =>
    `p50 ${pct(xs, 50).toFixed(2)} ms, p95 ${pct(xs, 95).toFixed(2)} ms`;
  console.log(`containers: ${N}, rounds: ${ROUNDS}`);
  console.log(`skiff collector : ${fmt(skiff)}`);
  console.log(`floor (3 files) : ${fmt(floor)}`);
  console.log(`ratio p50: ${(pct(skiff, 50) / pct(floor, 50)).toFixed(2)}x`);
} finally {
  await f.dispose();
}
