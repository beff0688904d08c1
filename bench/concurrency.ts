/**
 * bench/concurrency: the 200-call mix issued at once through one client, as a busy node's
 * kubelet does (PLEG relists and probes while pods come and go): 40 ExecSync, 20
 * RunPodSandbox+StopPodSandbox, 140 reads (ListContainers, ContainerStatus, ListPodSandbox)
 * on a few running pods. Each call's latency runs from the moment the whole burst was
 * issued; p50/p99 per kind. A read must not wait behind the ExecSyncs or the pod churn.
 *
 *   deno run --allow-all bench/concurrency.ts [--quick]   # Skiff and containerd side by side
 *
 * (Runs bench/compare.ts with `--phases mix`; the workload is exported for compare.ts.)
 */
import type { RuntimeUnderTest } from "./compare/workloads.ts";
import { startPod, stopPod } from "./compare/workloads.ts";
import type { PodHandle } from "./compare/workloads.ts";
import { podConfig, pool } from "./compare/workloads.ts";
import type { ReadProbe } from "./compare/readprobe.ts";

export type MixKind =
  | "ExecSync"
  | "RunPodSandbox+StopPodSandbox"
  | "ListContainers"
  | "ContainerStatus"
  | "ListPodSandbox";

export const READ_KINDS: MixKind[] = ["ListContainers", "ContainerStatus", "ListPodSandbox"];

export interface MixCounts {
  /** Running pods (one container each) the reads and ExecSyncs target. */
  pods: number;
  exec: number;
  churn: number;
  reads: number;
}

export const FULL_MIX: MixCounts = { pods: 4, exec: 40, churn: 20, reads: 140 };

/** Latency of every call by kind (ms from the burst's start) over all rounds, errors, and
 * the wall time of each round's burst. */
export type { MixResult } from "./compare/report.ts";
import type { MixResult } from "./compare/report.ts";

/** Starts the target pods; the caller runs rounds and stops them. */
export async function mixPods(rt: RuntimeUnderTest, image: string, n: number) {
  return await pool(n, 2, async () => (await startPod(rt, image)).pod);
}

/** One burst of the mix on `pods`; adds its samples to `into`. */
export async function mixRound(
  rt: RuntimeUnderTest,
  pods: PodHandle[],
  counts: MixCounts,
  into: MixResult,
  probe?: ReadProbe,
): Promise<void> {
  const calls: [MixKind, () => Promise<unknown>][] = [];
  const containers = pods.flatMap((p) => p.containerIds);
  for (let i = 0; i < counts.exec; i++) {
    const id = containers[i % containers.length];
    calls.push(["ExecSync", async () => {
      const r = await rt.client.call("ExecSync", {
        container_id: id,
        cmd: ["sh", "-c", "echo ok"],
        timeout: "30",
      });
      if (r.exit_code !== 0) throw new Error(`ExecSync exit ${r.exit_code}`);
    }]);
  }
  const churned: string[] = [];
  for (let i = 0; i < counts.churn; i++) {
    calls.push(["RunPodSandbox+StopPodSandbox", async () => {
      const config = podConfig(rt);
      await Deno.mkdir(config.log_directory!, { recursive: true });
      const { pod_sandbox_id } = await rt.client.call("RunPodSandbox", { config });
      churned.push(pod_sandbox_id);
      await rt.client.call("StopPodSandbox", { pod_sandbox_id });
    }]);
  }
  for (let i = 0; i < counts.reads; i++) {
    const kind = READ_KINDS[i % READ_KINDS.length];
    const id = containers[i % containers.length];
    calls.push([
      kind,
      () =>
        kind === "ContainerStatus"
          ? rt.client.call("ContainerStatus", { container_id: id })
          : rt.client.call(kind as "ListContainers" | "ListPodSandbox", {}),
    ]);
  }
  // Interleave so no kind is issued wholly before another (a fixed shuffle per round).
  for (let i = calls.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [calls[i], calls[j]] = [calls[j], calls[i]];
  }
  const t0 = performance.now();
  const probed = probe?.fire(containers[0]).then((r) => {
    for (const [kind, times] of Object.entries(r.times)) {
      (into.probeTimes ??= {})[kind as MixKind] = [
        ...(into.probeTimes?.[kind as MixKind] ?? []),
        ...times,
      ];
    }
    if (r.errors) into.errors.push(`probe: ${r.errors} failed reads`);
  });
  let readMax = 0;
  await Promise.all(calls.map(async ([kind, fn]) => {
    try {
      await fn();
      const took = performance.now() - t0;
      (into.times[kind] ??= []).push(took);
      if (READ_KINDS.includes(kind)) readMax = Math.max(readMax, took);
    } catch (e) {
      into.errors.push(`${kind}: ${e instanceof Error ? e.message : e}`);
    }
  }));
  into.bursts.push(performance.now() - t0);
  (into.burstReadMax ??= []).push(readMax);
  await probed;
  // Not measured: the churned pods are removed after the burst.
  await pool(
    churned.length,
    4,
    (i) => rt.client.call("RemovePodSandbox", { pod_sandbox_id: churned[i] }),
  );
}

export async function stopMixPods(rt: RuntimeUnderTest, pods: PodHandle[]): Promise<void> {
  await pool(pods.length, 4, (i) => stopPod(rt, pods[i]));
}

if (import.meta.main) {
  const compare = new URL("./compare.ts", import.meta.url).pathname;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", compare, "--phases", "mix", ...Deno.args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(code);
}
