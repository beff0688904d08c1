/**
 * A pod on the host's network with one container running a shell loop that logs, for the
 * admin tests that need something live to list, follow and exec into.
 */
import type { TestSkiff } from "../helpers/skiff.ts";

export interface LoggingPodOptions {
  pod: string;
  namespace: string;
  container: string;
  image: string;
  /** Shell script the container runs (under `sh -c`). */
  script: string;
}

export async function startLoggingPod(
  s: TestSkiff,
  o: LoggingPodOptions,
): Promise<{ podId: string; containerId: string }> {
  const logDirectory = `${s.dir}/pod-logs`;
  const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", {
    config: {
      metadata: { name: o.pod, namespace: o.namespace, uid: crypto.randomUUID() },
      hostname: o.pod,
      log_directory: logDirectory,
      linux: {
        security_context: {
          namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
        },
      },
    },
  });
  const { container_id: containerId } = await s.client.call("CreateContainer", {
    pod_sandbox_id: podId,
    config: {
      metadata: { name: o.container, attempt: 0 },
      image: { image: o.image },
      command: ["sh", "-c", o.script],
      log_path: `${o.container}/0.log`,
    },
    sandbox_config: {
      metadata: { name: o.pod, namespace: o.namespace },
      log_directory: logDirectory,
    },
  });
  await s.client.call("StartContainer", { container_id: containerId });
  return { podId, containerId };
}
