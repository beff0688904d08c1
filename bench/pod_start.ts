/**
 * bench/pod_start: time from nothing to a running container, through a real Skiff.
 *
 *   deno run --allow-all bench/pod_start.ts [--count 30] [--host-network]
 *
 * Pulls a busybox image (built here, served by a local registry) once, then starts `count`
 * pods (RunPodSandbox + CreateContainer + StartContainer) sequentially and `count`
 * concurrently, and reports p50/p95 of time-to-running, Skiff's RSS with them all running
 * and the per-container overhead (conmon's PSS). In the same run it measures the floor:
 * `runc create` + `runc start` of an equivalent bundle driven directly from this process,
 * and prints each result as a ratio to that floor. Removes everything it made.
 */
import { parseArgs } from "node:util";
import { TestSkiff } from "../tests/helpers/skiff.ts";
import { TestRegistry } from "../tests/helpers/registry.ts";
import { pushBusyboxImage } from "../tests/helpers/oci_build.ts";
import { cleanupSkiff, podConfig } from "../tests/sandbox/helpers.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "30" },
    "host-network": { type: "boolean", default: false },
  },
});
const COUNT = Number(values.count);
const HOST_NETWORK = values["host-network"];

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

function kib(path: string, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(Deno.readTextFileSync(path));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

interface Started {
  podId: string;
  containerId: string;
}

interface Phases {
  sandbox: number;
  container: number;
}

async function startPod(
  s: TestSkiff,
  image: string,
  n: number,
): Promise<[Started, number, Phases]> {
  const t0 = performance.now();
  const cfg = podConfig(
    HOST_NETWORK ? { linux: { security_context: { namespace_options: { network: "NODE" } } } } : {},
  );
  cfg.log_directory = `${s.dir}/bench-logs/${n}`;
  const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config: cfg });
  const t1 = performance.now();
  const { container_id: containerId } = await s.client.call("CreateContainer", {
    pod_sandbox_id: podId,
    config: {
      metadata: { name: "main", attempt: 0 },
      image: { image },
      command: ["sleep", "3600"],
      log_path: "main.log",
    },
    sandbox_config: cfg,
  });
  await s.client.call("StartContainer", { container_id: containerId });
  const t2 = performance.now();
  return [{ podId, containerId }, t2 - t0, { sandbox: t1 - t0, container: t2 - t1 }];
}

async function removePods(s: TestSkiff, pods: Started[]): Promise<void> {
  await Promise.all(pods.map(async (p) => {
    await s.client.call("StopPodSandbox", { pod_sandbox_id: p.podId });
    await s.client.call("RemovePodSandbox", { pod_sandbox_id: p.podId });
  }));
}

interface Round {
  times: number[];
  sandbox: number[];
  container: number[];
  rssKiB: number;
  conmonPssKiB: number[];
}

async function skiffRound(s: TestSkiff, image: string, concurrent: boolean): Promise<Round> {
  const times: number[] = [];
  const sandbox: number[] = [];
  const container: number[] = [];
  const pods: Started[] = [];
  const one = async (n: number) => {
    const [p, ms, phases] = await startPod(s, image, n);
    times.push(ms);
    sandbox.push(phases.sandbox);
    container.push(phases.container);
    pods.push(p);
  };
  if (concurrent) await Promise.all(Array.from({ length: COUNT }, (_, i) => one(i)));
  else for (let i = 0; i < COUNT; i++) await one(i);
  const rssKiB = kib(`/proc/${s.pid}/status`, "VmRSS");
  const conmonPssKiB: number[] = [];
  for (const p of pods) {
    const v = await s.client.call("ContainerStatus", {
      container_id: p.containerId,
      verbose: true,
    });
    const { conmonPid } = JSON.parse(v.info.info) as { conmonPid: number };
    conmonPssKiB.push(kib(`/proc/${conmonPid}/smaps_rollup`, "Pss"));
  }
  await removePods(s, pods);
  return { times, sandbox, container, rssKiB, conmonPssKiB };
}

/** The floor: runc create + start of a bundle like Skiff's, straight from this process. */
async function floorRound(s: TestSkiff, image: string, concurrent: boolean): Promise<number[]> {
  // Borrow one Skiff container's rootfs (read-only) and spec, with fresh namespaces.
  const [ref] = await startPod(s, image, 9999);
  const spec = JSON.parse(
    await Deno.readTextFile(`${s.stateDir}/containers/${ref.containerId}/config.json`),
  );
  const dir = await Deno.makeTempDir({ prefix: "skiff-bench-floor-" });
  const root = `${dir}/runc`;
  const times: number[] = [];
  const ids: string[] = [];
  // The container inherits runc's stdio: never a pipe to us (its output would be waited on
  // for ever); errors are read from runc's log instead.
  const run = async (args: string[]) => {
    const log = `${dir}/runc.log`;
    const o = await new Deno.Command("runc", {
      args: ["--root", root, "--log", log, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (!o.success) {
      throw new Error(`runc ${args.join(" ")}: ${await Deno.readTextFile(log).catch(() => "")}`);
    }
  };
  const one = async (i: number) => {
    const id = `floor-${i}`;
    const bundle = `${dir}/${id}`;
    await Deno.mkdir(bundle);
    const own = structuredClone(spec);
    own.root = { path: `${s.stateDir}/containers/${ref.containerId}/rootfs`, readonly: true };
    own.process.args = ["sleep", "3600"];
    own.linux.namespaces = [{ type: "mount" }, { type: "pid" }, { type: "network" }, {
      type: "ipc",
    }, { type: "uts" }];
    own.linux.cgroupsPath = `/skiff-bench-floor/${id}`;
    own.mounts = own.mounts.filter((m: { type: string }) => m.type !== "bind");
    delete own.hostname;
    await Deno.writeTextFile(`${bundle}/config.json`, JSON.stringify(own));
    const t0 = performance.now();
    await run(["create", "--bundle", bundle, id]);
    await run(["start", id]);
    times.push(performance.now() - t0);
    ids.push(id);
  };
  try {
    if (concurrent) await Promise.all(Array.from({ length: COUNT }, (_, i) => one(i)));
    else for (let i = 0; i < COUNT; i++) await one(i);
  } finally {
    for (const id of ids) await run(["delete", "--force", id]).catch(() => {});
    // runc removes each container's cgroup, not the parent the floor put them under.
    for (const hierarchy of Deno.readDirSync("/sys/fs/cgroup")) {
      await Deno.remove(`/sys/fs/cgroup/${hierarchy.name}/skiff-bench-floor`).catch(() => {});
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await removePods(s, [ref]);
  }
  return times;
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

const registry = await TestRegistry.start();
const s = await TestSkiff.create({ bridge: !HOST_NETWORK });
try {
  console.error("[pod_start] pushing the image and starting Skiff");
  const img = await pushBusyboxImage(registry, "bench/busybox:1");
  await s.start();
  await s.client.call("PullImage", { image: { image: img.ref } });
  // warm-up: first-call costs (module loading, first runc) are not what we measure
  await removePods(s, [(await startPod(s, img.ref, 10000))[0]]);

  const progress = (m: string) => console.error(`[pod_start] ${m}`);
  progress("sequential round");
  const seq = await skiffRound(s, img.ref, false);
  progress("concurrent round");
  const conc = await skiffRound(s, img.ref, true);
  progress("floor rounds");
  const floorSeq = await floorRound(s, img.ref, false);
  const floorConc = await floorRound(s, img.ref, true);

  console.log(
    `pod start: ${COUNT} pods (sandbox + 1 container, image present), ${
      HOST_NETWORK ? "host network" : "bridge network"
    }`,
  );
  for (
    const [name, r, floor] of [["sequential", seq, floorSeq], [
      "concurrent",
      conc,
      floorConc,
    ]] as const
  ) {
    const p50 = pct(r.times, 50);
    const p95 = pct(r.times, 95);
    const f50 = pct(floor, 50);
    const f95 = pct(floor, 95);
    console.log(
      `${name.padEnd(10)} time-to-running p50 ${fmt(p50)} p95 ${
        fmt(p95)
      } | floor (runc create+start) p50 ${fmt(f50)} p95 ${fmt(f95)} | ratio p50 ${
        (p50 / f50).toFixed(2)
      }x p95 ${(p95 / f95).toFixed(2)}x`,
    );
    const c50 = pct(r.container, 50);
    console.log(
      `${"".padEnd(10)} of which RunPodSandbox p50 ${
        fmt(pct(r.sandbox, 50))
      }, CreateContainer+StartContainer p50 ${fmt(c50)} (${(c50 / f50).toFixed(2)}x the floor)`,
    );
    const pss = r.conmonPssKiB.filter((x) => x > 0);
    console.log(
      `${"".padEnd(10)} Skiff RSS with ${COUNT} running: ${
        (r.rssKiB / 1024).toFixed(1)
      } MiB | conmon PSS per container p50 ${(pct(pss, 50) / 1024).toFixed(2)} MiB`,
    );
  }
} finally {
  await cleanupSkiff(s);
  await registry.stop();
}
