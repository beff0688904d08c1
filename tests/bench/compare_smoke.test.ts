/**
 * Smoke run of bench/compare.ts (`--quick`, ~40 s: every phase, the mix, idle polling and
 * the footprint included): Skiff and a private containerd driven
 * side by side end to end, every measure present on both sides with a ratio, the results
 * files written, and nothing of the run left behind (the bench checks its bridges, netns,
 * cgroups, mounts, processes and dirs itself and exits 1 on a leak). Skipped, loudly, where
 * containerd is not installed (CI's test packages do not include it; `scripts/setup bench`
 * installs it).
 */
import assert from "node:assert/strict";
import { missingPrerequisites } from "../helpers/env.ts";
import type { BenchResult, RuntimeResult } from "../../bench/compare/report.ts";

const BENCH = new URL("../../bench/compare.ts", import.meta.url).pathname;

const missing = missingPrerequisites({
  root: true,
  binaries: [
    "containerd",
    "containerd-shim-runc-v2",
    "docker-registry",
    "runc",
    "conmon",
    "bridge",
    "host-local",
    "portmap",
    "busybox",
  ],
});

Deno.test({
  name:
    "bench/compare --quick: both runtimes measured, ratios printed, results written, nothing left",
  ignore: missing !== null,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "skiff-test-compare-" });
    try {
      const res = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", "--cached-only", BENCH, "--quick", "--out", out],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(240_000),
      }).output();
      const stdout = new TextDecoder().decode(res.stdout);
      const stderr = new TextDecoder().decode(res.stderr);
      assert.equal(res.code, 0, `bench failed:\n${stderr.slice(-4000)}\n${stdout}`);
      assert.match(stderr, /clean: no bridge, netns, cgroup, mount, process or temp dir/);

      // Every measure row has a Skiff value, a containerd value and a ratio.
      const rows = stdout.split("\n").slice(3).filter((l) => l.trim() !== "");
      assert.ok(rows.length >= 20, `expected the full table, got:\n${stdout}`);
      for (const row of rows) {
        // Idle CPU over the short --quick window may be 0.00 s on a side: no ratio then.
        const ratio = row.startsWith("idle") ? /(\d\.\d\dx|–)$/ : /\d\.\d\dx$/;
        assert.match(row, ratio, `row without a ratio: ${row}`);
      }

      const result = JSON.parse(
        await Deno.readTextFile(`${out}/compare-quick.json`),
      ) as BenchResult;
      for (const name of ["skiff", "containerd"] as const) {
        const r = result.runtimes[name] as RuntimeResult;
        assert.ok(r, `${name} results missing`);
        assert.equal(r.sequential.start.length, result.counts.sequential);
        assert.equal(
          r.concurrent.start.length,
          result.counts.concurrentWidth * result.counts.concurrentRounds,
        );
        assert.equal(r.list.containers, result.counts.listPods * result.counts.listPerPod);
        assert.equal(r.pulls.times.length, result.counts.pulls);
        // Reads ran while the image was pulled, and every burst's slowest read was kept.
        assert.ok(r.pulls.readsDuring.length > 0, `${name}: no read during the pulls`);
        assert.equal(r.mix.burstReadMax?.length, result.counts.mixRounds);
        // One conmon per container (Skiff), one shim per pod (containerd): one each here.
        assert.equal(r.memoryLoaded.monitors, result.counts.memoryPods, `${name} monitors`);
        assert.ok(r.memoryIdle.runtimePssKiB > 0 && r.memoryLoaded.monitorsPssKiB > 0);
        // The 200-call mix (small here): every kind answered, no call failed.
        assert.deepEqual(r.mix.errors, [], `${name} mix errors`);
        for (const kind of ["ExecSync", "ListContainers", "ContainerStatus", "ListPodSandbox"]) {
          assert.ok((r.mix.times as Record<string, number[]>)[kind]?.length > 0, kind);
        }
        assert.equal(
          r.mix.times["RunPodSandbox+StopPodSandbox"]?.length,
          result.counts.mixChurn * result.counts.mixRounds,
        );
        // Idle polling ran every second and read the daemon's CPU; the footprint was taken.
        assert.equal(r.idle.errors.length, 0, `${name} idle errors: ${r.idle.errors}`);
        assert.ok(r.idle.times.ListContainers.length >= result.counts.idleSeconds - 1);
        assert.ok(r.idle.daemonCpuSeconds >= 0 && r.idle.monitors === result.counts.idlePods);
        assert.ok(r.footprint.runtimeRssKiB > 0);
      }
      const md = await Deno.readTextFile(`${out}/compare-quick.md`);
      assert.match(md, /^\| measure \| Skiff \| containerd \| Skiff\/containerd \|/);
      assert.match(md, /Machine \(.*containerd .*runc version/s);
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});
