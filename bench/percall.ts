/**
 * bench/percall: per-call cost, one call at a time, as critest's benchmark measures it
 * (`critest --benchmark`: a loop of pod and container lifecycles with each call timed).
 * Every iteration: RunPodSandbox, PodSandboxStatus, CreateContainer, StartContainer,
 * ContainerStatus, StopContainer (timeout 0), RemoveContainer, StopPodSandbox,
 * RemovePodSandbox, and ListImages; medians per call.
 *
 *   deno run --allow-all bench/percall.ts [--quick]   # Skiff and containerd side by side
 *
 * (Runs bench/compare.ts with `--phases percall`; the loop is exported for compare.ts.)
 */
import type { RuntimeUnderTest } from "./compare/workloads.ts";
import { podConfig } from "./compare/workloads.ts";

export const PER_CALL_KINDS = [
  "RunPodSandbox",
  "PodSandboxStatus",
  "CreateContainer",
  "StartContainer",
  "ContainerStatus",
  "StopContainer",
  "RemoveContainer",
  "StopPodSandbox",
  "RemovePodSandbox",
  "ListImages",
] as const;
export type PerCallKind = typeof PER_CALL_KINDS[number];

/** Each call's time (ms) over all iterations, by call. */
export type PerCallResult = Partial<Record<PerCallKind, number[]>>;

/** `iterations` sequential lifecycles; the calls' times by kind. */
export async function perCallLoop(
  rt: RuntimeUnderTest,
  image: string,
  iterations: number,
): Promise<PerCallResult> {
  const out: PerCallResult = {};
  const timed = async <T>(kind: PerCallKind, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const v = await fn();
    (out[kind] ??= []).push(performance.now() - t0);
    return v;
  };
  const c = rt.client;
  for (let i = 0; i < iterations; i++) {
    const config = podConfig(rt);
    await Deno.mkdir(config.log_directory!, { recursive: true });
    const { pod_sandbox_id } = await timed(
      "RunPodSandbox",
      () => c.call("RunPodSandbox", { config }),
    );
    await timed("PodSandboxStatus", () => c.call("PodSandboxStatus", { pod_sandbox_id }));
    const { container_id } = await timed("CreateContainer", () =>
      c.call("CreateContainer", {
        pod_sandbox_id,
        config: {
          metadata: { name: "main", attempt: 0 },
          image: { image },
          command: ["sleep", "3600"],
          log_path: "main.log",
        },
        sandbox_config: config,
      }));
    await timed("StartContainer", () => c.call("StartContainer", { container_id }));
    await timed("ContainerStatus", () => c.call("ContainerStatus", { container_id }));
    await timed("StopContainer", () => c.call("StopContainer", { container_id, timeout: "0" }));
    await timed("RemoveContainer", () => c.call("RemoveContainer", { container_id }));
    await timed("StopPodSandbox", () => c.call("StopPodSandbox", { pod_sandbox_id }));
    await timed("RemovePodSandbox", () => c.call("RemovePodSandbox", { pod_sandbox_id }));
    await timed("ListImages", () => c.call("ListImages", {}));
  }
  return out;
}

if (import.meta.main) {
  const compare = new URL("./compare.ts", import.meta.url).pathname;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", compare, "--phases", "percall", ...Deno.args],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(code);
}
