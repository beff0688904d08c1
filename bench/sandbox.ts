/**
 * bench/sandbox: pod sandbox start and teardown on the built-in bridge network.
 *
 *   deno run --allow-all bench/sandbox.ts [--count 30]
 *
 * Runs `count` sandboxes sequentially and `count` concurrently through a real Skiff (CRI
 * over its unix socket) and reports p50/p95 of RunPodSandbox and of StopPodSandbox +
 * RemovePodSandbox. In the same run it measures the floor: the same CNI ADD and DEL
 * (loopback, then bridge + host-local + portmap) invoked directly on pre-made network
 * namespaces, and prints each result as a ratio to that floor. Uses its own bridge and
 * subnet, and removes everything it made.
 */
import { parseArgs } from "node:util";
import { TestSkiff } from "../tests/helpers/skiff.ts";
import { cleanupSkiff, cmd, podConfig } from "../tests/sandbox/helpers.ts";
import {
  type CniAttachment,
  CniRuntime,
  defaultBridgeNetwork,
  LOOPBACK_NETWORK,
} from "../network/cni.ts";

const { values } = parseArgs({ options: { count: { type: "string", default: "30" } } });
const COUNT = Number(values.count);

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

interface Timings {
  run: number[];
  teardown: number[];
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

async function skiffRound(s: TestSkiff, concurrent: boolean): Promise<Timings> {
  const t: Timings = { run: [], teardown: [] };
  const one = async () => {
    const [r, runMs] = await timed(() => s.client.call("RunPodSandbox", { config: podConfig() }));
    t.run.push(runMs);
    return r.pod_sandbox_id;
  };
  const down = async (id: string) => {
    const [, ms] = await timed(async () => {
      await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
    });
    t.teardown.push(ms);
  };
  if (concurrent) {
    const ids = await Promise.all(Array.from({ length: COUNT }, one));
    await Promise.all(ids.map(down));
  } else {
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) ids.push(await one());
    for (const id of ids) await down(id);
  }
  return t;
}

/** The floor: CNI ADD/DEL of the same networks, straight from this process. */
async function floorRound(s: TestSkiff, concurrent: boolean): Promise<Timings> {
  const t: Timings = { run: [], teardown: [] };
  const nsDir = await Deno.makeTempDir({ prefix: "skiff-bench-ns-" });
  const cni = new CniRuntime({
    binDirs: ["/opt/cni/bin", "/usr/lib/cni"],
    cacheDir: `${nsDir}/cache`,
    timeoutMs: 60000,
  });
  const net = defaultBridgeNetwork({
    bridgeName: s.bridgeName,
    subnet: s.subnet,
    ipamDataDir: `${s.rootDir}/cni/networks`,
  });
  const files: string[] = [];
  try {
    for (let i = 0; i < COUNT; i++) {
      const f = `${nsDir}/ns${i}`;
      await Deno.writeTextFile(f, "");
      const r = await cmd(["unshare", `--net=${f}`, "true"]);
      if (r.code !== 0) throw new Error(`unshare: ${r.stderr}`);
      files.push(f);
    }
    const att = (i: number, ifName: string): CniAttachment => ({
      containerId: `bench-floor-${i}`,
      netnsPath: files[i],
      ifName,
      args: [],
      capabilityArgs: {},
    });
    const add = async (i: number) => {
      const [, ms] = await timed(async () => {
        await cni.add(LOOPBACK_NETWORK, att(i, "lo"));
        await cni.add(net, att(i, "eth0"));
      });
      t.run.push(ms);
    };
    const del = async (i: number) => {
      const [, ms] = await timed(async () => {
        await cni.del(net, att(i, "eth0"));
        await cni.del(LOOPBACK_NETWORK, att(i, "lo"));
      });
      t.teardown.push(ms);
    };
    const idx = Array.from({ length: COUNT }, (_, i) => i);
    if (concurrent) {
      await Promise.all(idx.map(add));
      await Promise.all(idx.map(del));
    } else {
      for (const i of idx) await add(i);
      for (const i of idx) await del(i);
    }
  } finally {
    for (const f of files) await cmd(["umount", f]);
    await Deno.remove(nsDir, { recursive: true });
  }
  return t;
}

function line(label: string, xs: number[], floor: number[]): string {
  const p50 = pct(xs, 50);
  const p95 = pct(xs, 95);
  const f50 = pct(floor, 50);
  const f95 = pct(floor, 95);
  return `${label.padEnd(34)} p50 ${p50.toFixed(1).padStart(7)} ms  p95 ${
    p95.toFixed(1).padStart(7)
  } ms   floor p50 ${f50.toFixed(1).padStart(6)} ms p95 ${f95.toFixed(1).padStart(6)} ms   ` +
    `ratio p50 ${(p50 / f50).toFixed(2)}x p95 ${(p95 / f95).toFixed(2)}x`;
}

const s = await TestSkiff.create({ bridge: true });
try {
  await s.start();
  // Warm-up: the bridge, iptables chains and plugin binaries' page cache exist from here on.
  for (let i = 0; i < 3; i++) {
    const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", { config: podConfig() });
    await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
  }
  console.log(`bench/sandbox: ${COUNT} sandboxes, bridge ${s.bridgeName}, subnet ${s.subnet}`);
  for (const concurrent of [false, true]) {
    const mode = concurrent ? "concurrent" : "sequential";
    const floor = await floorRound(s, concurrent);
    const skiff = await skiffRound(s, concurrent);
    console.log(line(`RunPodSandbox (${mode})`, skiff.run, floor.run));
    console.log(line(`Stop+RemovePodSandbox (${mode})`, skiff.teardown, floor.teardown));
  }
} finally {
  await cleanupSkiff(s);
}
