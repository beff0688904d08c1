/**
 * The workloads of the side-by-side bench, written once against a CRI client so Skiff and
 * containerd are driven by exactly the same calls with the same configs.
 */
import type { CriClient } from "../../cri/client.ts";
import type { DeepPartial } from "../../cri/handler.ts";
import type { PodSandboxConfig } from "../../cri/types.ts";
import { descendantPids, processMemory, totalPssKiB } from "./host.ts";

/** One runtime under test, as the workloads see it. */
export interface RuntimeUnderTest {
  name: "skiff" | "containerd";
  client: CriClient;
  /** Directory for pod log directories (inside the runtime's own temp dir). */
  logRoot: string;
  /** The pod subnet of its bridge network (every pod must get an address in it). */
  subnet: string;
  /** The cgroup parent given to every pod (removed after the run). */
  cgroupParent: string;
  /** The runtime's own process. */
  runtimePid(): number;
  /** Its per-pod/per-container helper processes: conmons (Skiff) or shims (containerd). */
  monitorPids(): number[];
  /** Directories holding its image data (blobs, layers or snapshots, removals under way). */
  imageDataDirs: string[];
}

export interface PodHandle {
  podId: string;
  containerIds: string[];
  config: DeepPartial<PodSandboxConfig>;
}

let podSeq = 0;

export function podConfig(rt: RuntimeUnderTest): DeepPartial<PodSandboxConfig> {
  const n = ++podSeq;
  return {
    metadata: { name: `bench${n}`, namespace: "bench", uid: crypto.randomUUID(), attempt: 0 },
    hostname: `bench${n}`,
    log_directory: `${rt.logRoot}/pod${n}`,
    labels: { app: "compare-bench" },
    linux: {
      cgroup_parent: rt.cgroupParent,
      security_context: { namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
    },
  };
}

export interface PodStartTimes {
  runPodSandbox: number;
  createContainer: number;
  startContainer: number;
  /** RunPodSandbox through StartContainer. */
  total: number;
}

export interface PodStopTimes {
  stopContainer: number;
  removeContainer: number;
  /** StopPodSandbox + RemovePodSandbox. */
  stopRemovePod: number;
  total: number;
}

/** RunPodSandbox + CreateContainer + StartContainer of one `sleep` container. */
export async function startPod(
  rt: RuntimeUnderTest,
  image: string,
): Promise<{ pod: PodHandle; times: PodStartTimes }> {
  const config = podConfig(rt);
  await Deno.mkdir(config.log_directory!, { recursive: true });
  const t0 = performance.now();
  const { pod_sandbox_id: podId } = await rt.client.call("RunPodSandbox", { config });
  const t1 = performance.now();
  const { container_id: containerId } = await rt.client.call("CreateContainer", {
    pod_sandbox_id: podId,
    config: {
      metadata: { name: "main", attempt: 0 },
      image: { image },
      command: ["sleep", "3600"],
      log_path: "main.log",
    },
    sandbox_config: config,
  });
  const t2 = performance.now();
  await rt.client.call("StartContainer", { container_id: containerId });
  const t3 = performance.now();
  return {
    pod: { podId, containerIds: [containerId], config },
    times: {
      runPodSandbox: t1 - t0,
      createContainer: t2 - t1,
      startContainer: t3 - t2,
      total: t3 - t0,
    },
  };
}

/**
 * StopContainer (timeout 0: `sleep` as PID 1 ignores SIGTERM, so any grace period would
 * only measure the wait), RemoveContainer, StopPodSandbox, RemovePodSandbox.
 */
export async function stopPod(rt: RuntimeUnderTest, pod: PodHandle): Promise<PodStopTimes> {
  const t0 = performance.now();
  for (const id of pod.containerIds) {
    await rt.client.call("StopContainer", { container_id: id, timeout: "0" });
  }
  const t1 = performance.now();
  for (const id of pod.containerIds) await rt.client.call("RemoveContainer", { container_id: id });
  const t2 = performance.now();
  await rt.client.call("StopPodSandbox", { pod_sandbox_id: pod.podId });
  await rt.client.call("RemovePodSandbox", { pod_sandbox_id: pod.podId });
  const t3 = performance.now();
  return {
    stopContainer: t1 - t0,
    removeContainer: t2 - t1,
    stopRemovePod: t3 - t2,
    total: t3 - t0,
  };
}

/** Runs `fn` over 0..n-1 with at most `width` in flight; results in index order. */
export async function pool<T>(
  n: number,
  width: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  return out;
}

export interface Lifecycle {
  start: PodStartTimes[];
  stop: PodStopTimes[];
}

/** `count` pods started and torn down one after another. */
export async function sequentialLifecycle(
  rt: RuntimeUnderTest,
  image: string,
  count: number,
): Promise<Lifecycle> {
  const start: PodStartTimes[] = [];
  const stop: PodStopTimes[] = [];
  for (let i = 0; i < count; i++) {
    const { pod, times } = await startPod(rt, image);
    start.push(times);
    stop.push(await stopPod(rt, pod));
  }
  return { start, stop };
}

/** `rounds` rounds of `width` pods started at once (then torn down at once). */
export async function concurrentStarts(
  rt: RuntimeUnderTest,
  image: string,
  width: number,
  rounds: number,
): Promise<Lifecycle> {
  const start: PodStartTimes[] = [];
  const stop: PodStopTimes[] = [];
  for (let r = 0; r < rounds; r++) {
    const started = await Promise.all(Array.from({ length: width }, () => startPod(rt, image)));
    start.push(...started.map((s) => s.times));
    stop.push(...await Promise.all(started.map((s) => stopPod(rt, s.pod))));
  }
  return { start, stop };
}

export interface MemorySample {
  pods: number;
  runtimeRssKiB: number;
  runtimePssKiB: number;
  monitors: number;
  monitorsPssKiB: number;
  /** Other processes still children of the runtime's own (helpers it spawned), if any. */
  children: number;
  childrenPssKiB: number;
  /** Runtime PSS + all monitors' PSS + its children's PSS. */
  totalPssKiB: number;
}

export function sampleMemory(rt: RuntimeUnderTest, pods: number): MemorySample {
  const own = processMemory(rt.runtimePid());
  const monitors = rt.monitorPids();
  const monitorsPssKiB = totalPssKiB(monitors);
  const children = descendantPids(rt.runtimePid()).filter((p) => !monitors.includes(p));
  const childrenPssKiB = totalPssKiB(children);
  return {
    pods,
    runtimeRssKiB: own.rssKiB,
    runtimePssKiB: own.pssKiB,
    monitors: monitors.length,
    monitorsPssKiB,
    children: children.length,
    childrenPssKiB,
    totalPssKiB: own.pssKiB + monitorsPssKiB + childrenPssKiB,
  };
}

/** Memory with `count` pods running (started 4 at a time), then tears them down. */
export async function memoryWithPods(
  rt: RuntimeUnderTest,
  image: string,
  count: number,
): Promise<MemorySample> {
  const pods: PodHandle[] = [];
  try {
    await pool(count, 4, async () => pods.push((await startPod(rt, image)).pod));
    // Let the start-up garbage settle so the sample is the steady state, not the burst.
    await new Promise((r) => setTimeout(r, 2000));
    return sampleMemory(rt, count);
  } finally {
    await pool(pods.length, 4, (i) => stopPod(rt, pods[i]));
  }
}

/** ListContainers latency with `pods` × `perPod` created containers present. */
export async function listContainers(
  rt: RuntimeUnderTest,
  image: string,
  pods: number,
  perPod: number,
  calls: number,
): Promise<{ containers: number; times: number[] }> {
  const made: PodHandle[] = [];
  try {
    await pool(pods, 2, async () => {
      const config = podConfig(rt);
      await Deno.mkdir(config.log_directory!, { recursive: true });
      const { pod_sandbox_id: podId } = await rt.client.call("RunPodSandbox", { config });
      const pod: PodHandle = { podId, containerIds: [], config };
      made.push(pod);
      for (let c = 0; c < perPod; c++) {
        const { container_id } = await rt.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: {
            metadata: { name: `c${c}`, attempt: 0 },
            image: { image },
            command: ["sleep", "3600"],
            log_path: `c${c}.log`,
          },
          sandbox_config: config,
        });
        pod.containerIds.push(container_id);
      }
    });
    const times: number[] = [];
    let containers = 0;
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      const res = await rt.client.call("ListContainers", {});
      times.push(performance.now() - t0);
      containers = res.containers.length;
    }
    return { containers, times };
  } finally {
    await pool(made.length, 2, async (i) => {
      for (const id of made[i].containerIds) {
        await rt.client.call("RemoveContainer", { container_id: id });
      }
      await rt.client.call("StopPodSandbox", { pod_sandbox_id: made[i].podId });
      await rt.client.call("RemovePodSandbox", { pod_sandbox_id: made[i].podId });
    });
  }
}

/** What kubelet's relist would see while a pull runs: a read every READ_EVERY_MS. */
const READ_EVERY_MS = 10;

/**
 * Fresh pulls: before each, the image is removed and the runtime's image data back where it
 * was before the first pull. Both runtimes remove data in the background (containerd's
 * garbage collector, Skiff's layer deletion), and a pull timed while that still runs, or
 * before it ran, is not a fresh pull.
 */
export async function pullFresh(
  rt: RuntimeUnderTest,
  ref: string,
  count: number,
): Promise<{ times: number[]; readsDuring: number[] }> {
  const times: number[] = [];
  const readsDuring: number[] = [];
  await removeImage(rt, ref);
  const baseline = await settledEntries(rt, Infinity);
  for (let i = 0; i < count; i++) {
    await removeImage(rt, ref);
    await settledEntries(rt, baseline);
    const stopReads = readEvery(rt, READ_EVERY_MS, readsDuring);
    const t0 = performance.now();
    try {
      await rt.client.call("PullImage", { image: { image: ref } });
    } finally {
      await stopReads();
    }
    times.push(performance.now() - t0);
  }
  await removeImage(rt, ref);
  return { times, readsDuring };
}

/** Times a ListPodSandbox every `ms` into `into` until the returned function is called. */
function readEvery(rt: RuntimeUnderTest, ms: number, into: number[]): () => Promise<void> {
  let on = true;
  const loop = (async () => {
    while (on) {
      const t0 = performance.now();
      await rt.client.call("ListPodSandbox", {});
      into.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, ms));
    }
  })();
  return () => {
    on = false;
    return loop;
  };
}

async function removeImage(rt: RuntimeUnderTest, ref: string): Promise<void> {
  const present = await rt.client.call("ImageStatus", { image: { image: ref } });
  if (present.image) await rt.client.call("RemoveImage", { image: { image: ref } });
}

/**
 * Waits until the runtime's image data holds at most `target` entries and stopped changing
 * (at most 30 s, then says so and goes on); returns the count.
 */
async function settledEntries(rt: RuntimeUnderTest, target: number): Promise<number> {
  const deadline = performance.now() + 30_000;
  let last = -1;
  for (;;) {
    const n = await imageDataEntries(rt);
    if (n <= target && n === last) return n;
    if (performance.now() > deadline) {
      console.error(`[compare] ${rt.name}: image data at ${n} entries, not ${target}, after 30 s`);
      return n;
    }
    last = n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function imageDataEntries(rt: RuntimeUnderTest): Promise<number> {
  let n = 0;
  for (const dir of rt.imageDataDirs) {
    try {
      for await (const _ of Deno.readDir(dir)) n++;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return n;
}

/** Fails unless the pod got an IPv4 address in the runtime's own bridge subnet. */
export async function assertPodOnBridge(rt: RuntimeUnderTest, pod: PodHandle): Promise<string> {
  const st = await rt.client.call("PodSandboxStatus", { pod_sandbox_id: pod.podId });
  const ip = st.status?.network?.ip ?? "";
  const prefix = rt.subnet.split("/")[0].replace(/\.0$/, ".");
  if (!ip.startsWith(prefix)) {
    throw new Error(
      `${rt.name}: pod ${pod.podId} has address ${JSON.stringify(ip)}, not one in ${rt.subnet}: ` +
        `the bench would not be measuring the bridge network`,
    );
  }
  return ip;
}
