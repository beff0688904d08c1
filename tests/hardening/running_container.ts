/**
 * For the hardening tests that need a real container: a real registry on 127.0.0.1 with
 * busybox pushed, a real Skiff (extra TOML and env as the test needs) that pulled it, and
 * one pod with one `sleep` container started through CRI. `dispose` removes all of it.
 */
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig } from "../../cri/types.ts";
import { runtimePrerequisitesMissing } from "../container/fixture.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { type SkiffOptions, TestSkiff } from "../helpers/skiff.ts";
import { podConfig } from "../sandbox/helpers.ts";

/** Why a real container cannot run here, or null (the caller warns loudly and skips). */
export function containerPrerequisitesMissing(): string | null {
  return runtimePrerequisitesMissing() ?? registryPrerequisitesMissing();
}

export interface RunningContainer {
  skiff: TestSkiff;
  podId: string;
  containerId: string;
  image: string;
  dispose(): Promise<void>;
}

export async function startRunningContainer(
  opts: SkiffOptions = {},
  over: DeepPartial<ContainerConfig> = {},
): Promise<RunningContainer> {
  const registry = await TestRegistry.start();
  const skiff = await TestSkiff.create({ bridge: true, ...opts });
  const dispose = async () => {
    await skiff.dispose();
    await registry.stop();
  };
  try {
    const img = await pushBusyboxImage(registry, "hardening/busybox:1");
    await skiff.start();
    await skiff.client.call("PullImage", { image: { image: img.ref } });
    const sandbox_config = podConfig({ log_directory: `${skiff.dir}/pod-logs` });
    const { pod_sandbox_id: podId } = await skiff.client.call("RunPodSandbox", {
      config: sandbox_config,
    });
    const { container_id: containerId } = await skiff.client.call("CreateContainer", {
      pod_sandbox_id: podId,
      config: {
        metadata: { name: "sleeper", attempt: 0 },
        image: { image: img.ref },
        command: ["sleep", "600"],
        log_path: "sleeper/0.log",
        ...over,
      },
      sandbox_config,
    });
    await skiff.client.call("StartContainer", { container_id: containerId });
    return { skiff, podId, containerId, image: img.ref, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
