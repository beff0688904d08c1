/**
 * bench/compare: Skiff and containerd side by side, driven by the same CRI client with the
 * same workloads, each phase on one runtime and then the other (both stay up, only one works).
 *
 *   deno run --allow-all bench/compare.ts            # full counts (~1.5 min on 2 cores)
 *   deno run --allow-all bench/compare.ts --quick    # small counts, a smoke run (~15 s)
 *   options: --only skiff|containerd (one side, no ratios), --out DIR (default bench/results),
 *   --phases a,b (only those; see PHASES), --skiff-v8-flags F (DENO_V8_FLAGS for Skiff's daemon; default the shipped
 *   ones, core/v8_flags.ts),
 *   --mix-probe (the mix: a separate grpc-go client also issues reads through each burst,
 *   one every 5 ms; --mix-probe-reads N of them, default 30)
 *   --skiff-toml 'key = value' (repeatable: a top-level line of Skiff's config, e.g.
 *   'log_level = "debug"')
 *   --skiff-env K=V (repeatable: more environment for Skiff's daemon, over the shipped
 *   DAEMON_ENV of core/v8_flags.ts: e.g. DENO_TOKIO_EVENT_INTERVAL=61 for Deno's default)
 *   --skiff-source (run Skiff's main.ts; by default the bench runs the daemon as it ships, the
 *   bundle scripts/bundle.ts builds, into the run's temp dir)
 *
 * Both runtimes use runc with cgroupfs, the same bridge + host-local + portmap conflist (each
 * with its own bridge name and subnet), and one local registry (Debian's docker-registry on
 * 127.0.0.1) holding the images built here: a busybox image for the containers, a
 * busybox-based pause image (`sleep`) for containerd's sandboxes, and a multi-layer image for
 * the pull. containerd (Debian's 1.6.x) is started by the bench with its CRI plugin and a
 * private root, state, socket and runc root. Workloads: RunPodSandbox, CreateContainer,
 * StartContainer, Stop/Remove, full pod start p50/p95 (sequential and 20 concurrent),
 * PullImage of a multi-layer image (removed between runs), ListContainers with 100
 * containers, and memory at 0 and 50 running pods (runtime RSS/PSS and all conmon/shim PSS,
 * from /proc/<pid>/smaps_rollup). Prints Skiff/containerd ratios and writes JSON + a
 * markdown table to bench/results/. Removes everything it made, pass, fail or Ctrl-C.
 */
import { parseArgs } from "node:util";
import { DAEMON_V8_FLAGS } from "../core/v8_flags.ts";
import { TestSkiff } from "../tests/helpers/skiff.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../tests/helpers/registry.ts";
import {
  buildImage,
  busyboxLayerEntries,
  file,
  pushBusyboxImage,
  pushImage,
} from "../tests/helpers/oci_build.ts";
import type { TarEntry } from "../tests/helpers/oci_build.ts";
import { makeTempDir, randomHex } from "../tests/helpers/env.ts";
import { bundleDaemon } from "../scripts/bundle.ts";
import { BenchContainerd, containerdMissing, pidsWhoseCmdlineHas } from "./compare/containerd.ts";
import { describeMachine, loadAverage, removeCgroup, run } from "./compare/host.ts";
import type { MachineDescription } from "./compare/host.ts";
import {
  assertPodOnBridge,
  concurrentStarts,
  listContainers,
  memoryWithPods,
  pullFresh,
  type RuntimeUnderTest,
  sampleMemory,
  sequentialLifecycle,
  startPod,
  stopPod,
} from "./compare/workloads.ts";
import {
  type BenchResult,
  markdownTable,
  type RuntimeResult,
  textTable,
} from "./compare/report.ts";
import { type PerCallKind, perCallLoop, type PerCallResult } from "./percall.ts";
import { buildReadProbe, type ReadProbe, startReadProbe } from "./compare/readprobe.ts";

import { FULL_MIX, mixPods, type MixResult, mixRound, stopMixPods } from "./concurrency.ts";
import { footprintAfterLoad, idlePolling } from "./idle.ts";

/** The phases, in the order they run; `--phases a,b` runs only those. */
const PHASES = [
  "memory",
  "sequential",
  "percall",
  "concurrent",
  "list",
  "pull",
  "mix",
  "idle",
  "footprint",
] as const;

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string" },
    out: { type: "string", default: new URL("./results", import.meta.url).pathname },
    phases: { type: "string", default: PHASES.join(",") },
    // What the shipped binary runs with (core/v8_flags.ts); "" for V8's defaults.
    "skiff-v8-flags": { type: "string", default: DAEMON_V8_FLAGS.join(",") },
    "skiff-env": { type: "string", multiple: true },
    "skiff-source": { type: "boolean", default: false },
    "skiff-toml": { type: "string", multiple: true },
    "mix-probe": { type: "boolean", default: false },
    "mix-probe-reads": { type: "string", default: "30" },
  },
});
const SELECTED = new Set(values.phases!.split(",").map((p) => p.trim()).filter(Boolean));
const badPhase = [...SELECTED].find((p) => !(PHASES as readonly string[]).includes(p));
if (badPhase) {
  console.error(`unknown phase ${JSON.stringify(badPhase)}; known: ${PHASES.join(", ")}`);
  Deno.exit(2);
}
/** Reads the `--mix-probe` client issues at each burst, besides the mix's own. */
const PROBE_READS = Math.max(1, Math.min(1000, Number(values["mix-probe-reads"]) || 30));
const ALL_PHASES = SELECTED.size === PHASES.length;
const QUICK = values.quick;
const ONLY = values.only as "skiff" | "containerd" | undefined;
if (ONLY && ONLY !== "skiff" && ONLY !== "containerd") {
  console.error(`--only must be "skiff" or "containerd", not ${JSON.stringify(ONLY)}`);
  Deno.exit(2);
}

/** Counts: full ones sized to finish in well under ten minutes on two cores. */
const COUNTS = QUICK
  ? {
    sequential: 5,
    perCall: 5,
    concurrentWidth: 5,
    concurrentRounds: 1,
    pulls: 1,
    listPods: 4,
    listPerPod: 5,
    listCalls: 10,
    memoryPods: 5,
    mixPods: 2,
    mixExec: 8,
    mixChurn: 4,
    mixReads: 28,
    mixRounds: 1,
    idlePods: 3,
    idleSeconds: 5,
    footprintCycle: 10,
    footprintSettleSeconds: 3,
  }
  : {
    sequential: 100,
    perCall: 100,
    concurrentWidth: 20,
    concurrentRounds: 5,
    pulls: 10,
    listPods: 10,
    listPerPod: 10,
    listCalls: 200,
    memoryPods: 50,
    mixPods: FULL_MIX.pods,
    mixExec: FULL_MIX.exec,
    mixChurn: FULL_MIX.churn,
    mixReads: FULL_MIX.reads,
    mixRounds: 3,
    idlePods: 30,
    idleSeconds: 60,
    footprintCycle: 200,
    footprintSettleSeconds: 10,
  };

const progress = (m: string) => console.error(`[compare] ${m}`);

// Everything to undo, newest first, run on success, failure and Ctrl-C alike.
const cleanups: (() => Promise<void>)[] = [];
/** Things that must be gone after the run, checked at the end: [what, still there?]. */
const leakChecks: [string, () => Promise<boolean>][] = [];
async function unwindTo(depth: number): Promise<void> {
  while (cleanups.length > depth) {
    const undo = cleanups.pop()!;
    await undo().catch((e) => console.error(`[compare] clean-up step failed: ${e}`));
  }
}
let cleaning: Promise<void> | undefined;
function cleanupAll(): Promise<void> {
  cleaning ??= unwindTo(0);
  return cleaning;
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(sig, () => {
    progress(`${sig}: cleaning up`);
    cleanupAll().finally(() => Deno.exit(130));
  });
}

/**
 * A multi-layer image (~30 MiB compressed): the busybox layer, four layers of 96
 * incompressible 64 KiB files (download-bound) and one of 3,000 small text files
 * (unpack-bound: one file create per entry).
 */
async function pushMultiLayerImage(registry: TestRegistry, name: string) {
  const layers: TarEntry[][] = [busyboxLayerEntries()];
  for (let l = 0; l < 4; l++) {
    const entries: TarEntry[] = [];
    for (let f = 0; f < 96; f++) {
      const bytes = new Uint8Array(64 * 1024);
      crypto.getRandomValues(bytes);
      entries.push(file(`data/layer${l}/f${f}.bin`, bytes));
    }
    layers.push(entries);
  }
  const small: TarEntry[] = [];
  for (let f = 0; f < 3000; f++) {
    small.push(file(`usr/share/bench/d${f % 30}/f${f}.txt`, `file ${f} ${randomHex(64)}\n`));
  }
  layers.push(small);
  const built = await buildImage({ layers, config: { Cmd: ["sh"] } });
  const bytes = built.layers.reduce((n, b) => n + b.bytes.length, 0);
  return { ...(await pushImage(registry, name, built)), layers: built.layers.length, bytes };
}

interface Images {
  busybox: string;
  pause: string;
  multiLayer: string;
}

/** Pulls the images the pods need and starts two warm-up pods (checking their network). */
async function warmUp(rt: RuntimeUnderTest, images: Images): Promise<void> {
  progress(`${rt.name}: pulling the busybox and pause images; warm-up pods`);
  await rt.client.call("PullImage", { image: { image: images.busybox } });
  await rt.client.call("PullImage", { image: { image: images.pause } });
  // First-call costs (module loading, first runc, first CNI, the first exec) are not what
  // is measured.
  for (let i = 0; i < 2; i++) {
    const { pod } = await startPod(rt, images.busybox);
    await assertPodOnBridge(rt, pod);
    for (let e = 0; e < 3; e++) {
      await rt.client.call("ExecSync", {
        container_id: pod.containerIds[0],
        cmd: ["true"],
        timeout: "30",
      });
    }
    await stopPod(rt, pod);
  }
}

/**
 * Runs every workload on each runtime, phase by phase: a phase runs on one runtime and then
 * the other (who goes first alternates), so a change in the machine's background load during
 * the run falls on both sides rather than on whichever ran later.
 */
async function benchSideBySide(
  sides: RuntimeUnderTest[],
  images: Images,
): Promise<Map<RuntimeUnderTest, RuntimeResult>> {
  const partial = new Map<RuntimeUnderTest, Partial<RuntimeResult>>(sides.map((s) => [s, {}]));
  let turn = 0;
  const phase: Phase = async (key, what, fn) => {
    const order = turn++ % 2 === 0 ? sides : [...sides].reverse();
    for (const rt of order) {
      progress(`${rt.name}: ${what}`);
      partial.get(rt)![key] = await fn(rt);
    }
  };
  for (const rt of sides) await warmUp(rt, images);
  await new Promise((r) => setTimeout(r, 1000));
  const on = (p: typeof PHASES[number]) => SELECTED.has(p);
  if (on("memory")) {
    await phase("memoryIdle", "memory with 0 pods", async (rt) => sampleMemory(rt, 0));
  }
  if (on("sequential")) {
    await phase(
      "sequential",
      `${COUNTS.sequential} pods, sequentially`,
      (rt) => sequentialLifecycle(rt, images.busybox, COUNTS.sequential),
    );
  }
  if (on("percall")) {
    // ~1 ms calls: a slower stretch of this shared VM (seconds long) would fall on one side
    // only, so the runtimes take turns every PER_CALL_TURN lifecycles.
    const rounds = Math.ceil(COUNTS.perCall / PER_CALL_TURN);
    for (let round = 0; round < rounds; round++) {
      const n = Math.min(PER_CALL_TURN, COUNTS.perCall - round * PER_CALL_TURN);
      await phase(
        "perCall",
        `lifecycles ${round * PER_CALL_TURN + 1}-${round * PER_CALL_TURN + n} of ` +
          `${COUNTS.perCall}, each call timed (critest-style)`,
        async (rt) =>
          mergeTimes(partial.get(rt)!.perCall, await perCallLoop(rt, images.busybox, n)),
      );
    }
  }
  if (on("concurrent")) {
    await phase(
      "concurrent",
      `${COUNTS.concurrentRounds} x ${COUNTS.concurrentWidth} pods at once`,
      (rt) => concurrentStarts(rt, images.busybox, COUNTS.concurrentWidth, COUNTS.concurrentRounds),
    );
  }
  if (on("memory")) {
    await phase(
      "memoryLoaded",
      `memory with ${COUNTS.memoryPods} running pods`,
      (rt) => memoryWithPods(rt, images.busybox, COUNTS.memoryPods),
    );
  }
  if (on("list")) {
    await phase(
      "list",
      `ListContainers with ${COUNTS.listPods * COUNTS.listPerPod} containers`,
      (rt) =>
        listContainers(rt, images.busybox, COUNTS.listPods, COUNTS.listPerPod, COUNTS.listCalls),
    );
  }
  if (on("pull")) {
    await phase(
      "pulls",
      `PullImage of the multi-layer image, ${COUNTS.pulls} fresh pull(s)`,
      (rt) => pullFresh(rt, images.multiLayer, COUNTS.pulls),
    );
  }
  if (on("mix")) await mixPhases(sides, images, phase, partial);
  if (on("idle")) {
    await phase(
      "idle",
      `${COUNTS.idlePods} pods polled as kubelet polls, ${COUNTS.idleSeconds} s`,
      (rt) => idlePolling(rt, images.busybox, COUNTS.idlePods, COUNTS.idleSeconds),
    );
  }
  if (on("footprint")) {
    await phase(
      "footprint",
      `memory after ${COUNTS.footprintCycle} pods created and removed`,
      (rt) =>
        footprintAfterLoad(
          rt,
          images.busybox,
          COUNTS.footprintCycle,
          COUNTS.footprintSettleSeconds,
        ),
    );
  }
  return new Map([...partial].map(([rt, r]) => [rt, r as RuntimeResult]));
}

/** Lifecycles each runtime runs in one turn of the per-call phase. */
const PER_CALL_TURN = 5;

function mergeTimes(into: PerCallResult | undefined, more: PerCallResult): PerCallResult {
  const out: PerCallResult = { ...into };
  for (const [kind, times] of Object.entries(more) as [PerCallKind, number[]][]) {
    out[kind] = [...(out[kind] ?? []), ...times];
  }
  return out;
}

type Phase = <K extends keyof RuntimeResult>(
  key: K,
  what: string,
  fn: (rt: RuntimeUnderTest) => Promise<RuntimeResult[K]>,
) => Promise<void>;

/** The 200-call mix: target pods on every side first, then each round is its own phase. */
async function mixPhases(
  sides: RuntimeUnderTest[],
  images: Images,
  phase: Phase,
  partial: Map<RuntimeUnderTest, Partial<RuntimeResult>>,
): Promise<void> {
  const counts = {
    pods: COUNTS.mixPods,
    exec: COUNTS.mixExec,
    churn: COUNTS.mixChurn,
    reads: COUNTS.mixReads,
  };
  const pods = new Map<RuntimeUnderTest, Awaited<ReturnType<typeof mixPods>>>();
  const probes = new Map<RuntimeUnderTest, ReadProbe>();
  try {
    for (const rt of sides) pods.set(rt, await mixPods(rt, images.busybox, counts.pods));
    if (values["mix-probe"]) {
      const built = await buildReadProbe();
      cleanups.push(built.dispose);
      for (const rt of sides) {
        probes.set(rt, await startReadProbe(built.binary, rt.client.socket, PROBE_READS));
      }
    }
    for (let r = 0; r < COUNTS.mixRounds; r++) {
      await phase(
        "mix",
        `the ${counts.exec + counts.churn + counts.reads}-call mix, round ${r + 1}`,
        async (rt) => {
          const acc: MixResult = partial.get(rt)!.mix ??
            { counts, times: {}, errors: [], bursts: [] };
          await mixRound(rt, pods.get(rt)!, counts, acc, probes.get(rt));
          return acc;
        },
      );
    }
  } finally {
    for (const probe of probes.values()) await probe.close();
    for (const [rt, p] of pods) await stopMixPods(rt, p);
  }
}

/** The daemon as it ships (scripts/bundle.ts), built into a temp dir removed at the end. */
async function shippedBundle(): Promise<string> {
  const dir = await makeTempDir("bench-bundle");
  cleanups.push(() => Deno.remove(dir, { recursive: true }));
  leakChecks.push([`bundle dir ${dir}`, () => exists(dir)]);
  progress("skiff: bundling the daemon as shipped (scripts/bundle.ts)");
  return await bundleDaemon(`${dir}/bundle`);
}

async function startSkiff(registry: TestRegistry): Promise<RuntimeUnderTest> {
  const env: Record<string, string> = {};
  if (values["skiff-v8-flags"]) env.DENO_V8_FLAGS = values["skiff-v8-flags"];
  for (const kv of values["skiff-env"] ?? []) {
    const eq = kv.indexOf("=");
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const main = values["skiff-source"] ? undefined : await shippedBundle();
  const s = await TestSkiff.create({
    bridge: true,
    ...(Object.keys(env).length ? { env } : {}),
    main: main ?? new URL("../main.ts", import.meta.url).pathname,
  });
  cleanups.push(() => s.dispose());
  addLeakChecks(s.dir, s.bridgeName);
  // containerd logs at info: so does Skiff here (the test helper's default is debug).
  await Deno.writeTextFile(
    s.configPath,
    s.configToml().replace(
      `log_level = "debug"`,
      [`log_level = "info"`, ...(values["skiff-toml"] ?? [])].join("\n"),
    ),
  );
  const cgroupParent = `/skiff-bench-${randomHex(8)}`;
  cleanups.push(() => removeCgroup(cgroupParent));
  leakChecks.push([`cgroup ${cgroupParent}`, () => cgroupPresent(cgroupParent)]);
  progress(
    `skiff: starting (bridge ${s.bridgeName}, subnet ${s.subnet}, registry ${registry.host})`,
  );
  await s.start();
  return {
    name: "skiff",
    client: s.client,
    logRoot: `${s.dir}/pod-logs`,
    subnet: s.subnet,
    cgroupParent,
    runtimePid: () => s.pid!,
    monitorPids: () => pidsByComm("conmon", s.dir),
    imageDataDirs: ["content/blobs/sha256", "layers/sha256", "layers/tmp"].map((d) =>
      `${s.rootDir}/image/${d}`
    ),
  };
}

async function startContainerd(
  registry: TestRegistry,
  images: Images,
): Promise<RuntimeUnderTest> {
  const c = await BenchContainerd.create({
    sandboxImage: images.pause,
    registryHost: registry.host,
  });
  cleanups.push(() => c.dispose());
  addLeakChecks(c.dir, c.bridgeName);
  leakChecks.push([`containerd shims`, async () => c.shimPids().length > 0]);
  leakChecks.push([`containerd netns`, async () => c.leftoverNetns().length > 0]);
  const cgroupParent = `/skiff-bench-${randomHex(8)}`;
  cleanups.push(() => removeCgroup(cgroupParent));
  leakChecks.push([`cgroup ${cgroupParent}`, () => cgroupPresent(cgroupParent)]);
  progress(`containerd: starting (bridge ${c.bridgeName}, subnet ${c.subnet})`);
  await c.start();
  return {
    name: "containerd",
    client: c.client,
    logRoot: `${c.dir}/pod-logs`,
    subnet: c.subnet,
    cgroupParent,
    runtimePid: () => c.pid!,
    monitorPids: () => c.shimPids(),
    imageDataDirs: [
      `${c.rootDir}/io.containerd.content.v1.content/blobs/sha256`,
      `${c.rootDir}/io.containerd.snapshotter.v1.overlayfs/snapshots`,
    ],
  };
}

function addLeakChecks(dir: string, bridge: string): void {
  leakChecks.push([`dir ${dir}`, async () => await exists(dir)]);
  leakChecks.push([
    `bridge ${bridge}`,
    async () => (await run(["ip", "link", "show", bridge])).code === 0,
  ]);
  leakChecks.push([
    `mounts under ${dir}`,
    async () => (await Deno.readTextFile("/proc/self/mountinfo")).includes(dir),
  ]);
  leakChecks.push([`processes mentioning ${dir}`, async () => pidsWhoseCmdlineHas(dir).length > 0]);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function cgroupPresent(path: string): Promise<boolean> {
  for (const controller of ["memory", "cpu,cpuacct", "pids", "unified", ""]) {
    if (await exists(`/sys/fs/cgroup/${controller}${path}`.replace("//", "/"))) return true;
  }
  return false;
}

/** PIDs whose /proc/<pid>/comm is `comm` and whose command line mentions `needle`. */
function pidsByComm(comm: string, needle: string): number[] {
  return pidsWhoseCmdlineHas(needle).filter((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === comm;
    } catch {
      return false;
    }
  });
}

async function main(): Promise<void> {
  const missing = ONLY === "skiff" ? null : containerdMissing();
  if (missing) {
    console.error(`[compare] ${missing}`);
    Deno.exit(1);
  }
  const noRegistry = registryPrerequisitesMissing();
  if (noRegistry) {
    console.error(`[compare] ${noRegistry}: run \`scripts/setup bench\``);
    Deno.exit(1);
  }
  const machine: MachineDescription = await describeMachine();
  const registry = await TestRegistry.start();
  cleanups.push(() => registry.stop());
  const results: BenchResult = {
    quick: QUICK,
    counts: COUNTS,
    machine,
    multiLayerImage: { layers: 0, bytes: 0 },
    runtimes: {},
  };
  try {
    progress(`building and pushing images to ${registry.host}`);
    const busybox = await pushBusyboxImage(registry, "bench/busybox:1");
    const pause = await pushBusyboxImage(registry, "bench/pause:1", {
      config: { Cmd: ["sleep", "2147483647"] },
    });
    const multi = await pushMultiLayerImage(registry, "bench/multilayer:1");
    results.multiLayerImage = { layers: multi.layers, bytes: multi.bytes };
    const images: Images = { busybox: busybox.ref, pause: pause.ref, multiLayer: multi.ref };
    const started = performance.now();
    const sides: RuntimeUnderTest[] = [];
    if (ONLY !== "containerd") sides.push(await startSkiff(registry));
    if (ONLY !== "skiff") sides.push(await startContainerd(registry, images));
    for (const [rt, r] of await benchSideBySide(sides, images)) results.runtimes[rt.name] = r;
    results.loadAverageAtEnd = loadAverage();
    results.phases = [...SELECTED];
    results.seconds = Math.round((performance.now() - started) / 1000);
    if (ONLY !== "containerd") results.skiffForm = values["skiff-source"] ? "source" : "bundle";
  } finally {
    await cleanupAll();
  }

  console.log(textTable(results));
  await Deno.mkdir(values.out!, { recursive: true });
  const name = ALL_PHASES ? "compare" : [...SELECTED].join("-");
  const base = `${values.out}/${name}${QUICK ? "-quick" : ""}`;
  await Deno.writeTextFile(`${base}.json`, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${base}.md`, markdownTable(results));
  progress(`results written to ${base}.json and ${base}.md`);
}

try {
  await main();
} catch (e) {
  await cleanupAll();
  console.error(`[compare] failed: ${e instanceof Error ? e.stack : e}`);
  Deno.exit(1);
}
// Leftovers check: nothing of ours may survive the run.
const leaked: string[] = [];
for (const [what, present] of leakChecks) if (await present()) leaked.push(what);
if (leaked.length > 0) {
  console.error(`[compare] LEFT BEHIND: ${leaked.join("; ")}`);
  Deno.exit(1);
}
progress("clean: no bridge, netns, cgroup, mount, process or temp dir of the run is left");
