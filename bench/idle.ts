/**
 * bench/idle: CPU at rest under kubelet's polling, and the footprint after load.
 *
 * Idle: N running pods (one container each) polled as kubelet polls them: ListPodSandbox +
 * ListContainers every second (PLEG's relist), ContainerStatus for containers whose state
 * changed since the last relist, ListContainerStats + ListPodSandboxStats every 10 s. Over the
 * window, the CPU seconds (utime + stime from /proc/<pid>/stat) of the runtime's daemon and of
 * its monitors (conmons for Skiff, shims for containerd), and the p50/p99 of each poll call.
 *
 * Footprint: after a create/remove cycle of many pods and the 200-call mix, the daemon's RSS
 * and PSS once idle again (memory must return after load).
 *
 *   deno run --allow-all bench/idle.ts [--quick]   # Skiff and containerd side by side
 *
 * (Runs bench/compare.ts with `--phases idle,footprint`; workloads exported for compare.ts.)
 */
import type { MemorySample, PodHandle, RuntimeUnderTest } from "./compare/workloads.ts";
import { pool, sampleMemory, startPod, stopPod } from "./compare/workloads.ts";

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds (0 when it is gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After "pid (comm) ": state is f[0]; utime and stime are fields 14 and 15 (f[11], f[12]).
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

export interface IdleResult {
  pods: number;
  seconds: number;
  daemonCpuSeconds: number;
  monitorsCpuSeconds: number;
  monitors: number;
  /** Poll latencies by method (ms). */
  times: Record<string, number[]>;
  errors: string[];
}

/** Polls `pods` as kubelet does for `seconds`, measuring the runtime's CPU meanwhile. */
async function pollLikeKubelet(
  rt: RuntimeUnderTest,
  seconds: number,
  times: Record<string, number[]>,
  errors: string[],
): Promise<void> {
  const timed = async <T>(method: string, fn: () => Promise<T>): Promise<T | undefined> => {
    const t0 = performance.now();
    try {
      const r = await fn();
      (times[method] ??= []).push(performance.now() - t0);
      return r;
    } catch (e) {
      errors.push(`${method}: ${e instanceof Error ? e.message : e}`);
    }
  };
  const lastState = new Map<string, string>();
  const start = performance.now();
  for (let tick = 0; performance.now() - start < seconds * 1000; tick++) {
    const due = start + tick * 1000;
    await timed("ListPodSandbox", () => rt.client.call("ListPodSandbox", {}));
    const list = await timed("ListContainers", () => rt.client.call("ListContainers", {}));
    for (const c of list?.containers ?? []) {
      if (lastState.get(c.id) === c.state) continue;
      lastState.set(c.id, c.state);
      await timed(
        "ContainerStatus",
        () => rt.client.call("ContainerStatus", { container_id: c.id }),
      );
    }
    if (tick % 10 === 0) {
      await timed("ListContainerStats", () => rt.client.call("ListContainerStats", {}));
      await timed("ListPodSandboxStats", () => rt.client.call("ListPodSandboxStats", {}));
    }
    const wait = due + 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

export async function idlePolling(
  rt: RuntimeUnderTest,
  image: string,
  podCount: number,
  seconds: number,
): Promise<IdleResult> {
  const pods: PodHandle[] = [];
  try {
    await pool(podCount, 4, async () => pods.push((await startPod(rt, image)).pod));
    // Start-up work (and its garbage) is not what is measured.
    await new Promise((r) => setTimeout(r, 3000));
    const monitorPids = rt.monitorPids();
    const pid = rt.runtimePid();
    const daemon0 = cpuSeconds(pid);
    const monitors0 = monitorPids.reduce((s, p) => s + cpuSeconds(p), 0);
    const times: Record<string, number[]> = {};
    const errors: string[] = [];
    await pollLikeKubelet(rt, seconds, times, errors);
    return {
      pods: podCount,
      seconds,
      daemonCpuSeconds: cpuSeconds(pid) - daemon0,
      monitorsCpuSeconds: monitorPids.reduce((s, p) => s + cpuSeconds(p), 0) - monitors0,
      monitors: monitorPids.length,
      times,
      errors,
    };
  } finally {
    await pool(pods.length, 4, (i) => stopPod(rt, pods[i]));
  }
}

/**
 * `cycle` pods created and removed (4 at a time), then the runtime left alone for
 * `settleSeconds`: its memory once the load is gone.
 */
export async function footprintAfterLoad(
  rt: RuntimeUnderTest,
  image: string,
  cycle: number,
  settleSeconds: number,
): Promise<MemorySample & { cyclePods: number }> {
  await pool(cycle, 4, async () => {
    const { pod } = await startPod(rt, image);
    await stopPod(rt, pod);
  });
  await new Promise((r) => setTimeout(r, settleSeconds * 1000));
  return { ...sampleMemory(rt, 0), cyclePods: cycle };
}

if (import.meta.main) {
  const compare = new URL("./compare.ts", import.meta.url).pathname;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", compare, "--phases", "idle,footprint", ...Deno.args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(code);
}
