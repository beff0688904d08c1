/**
 * The streaming service: the CRI streaming server plus the runtime backend it drives
 * (exec through the OCI runtime, attach through conmon, port-forward into the pod's
 * network namespace), built on the agreed contracts only. Attach and port-forward are
 * loaded at their first use: an idle node holds neither.
 */
import { FailedPreconditionError, NotFoundError } from "../core/errors.ts";
import type { ContainerLookup, SandboxProvider } from "../runtime/contracts.ts";
import { execStreaming, requireRunning } from "../runtime/exec.ts";
import type { StreamingBackend } from "./types.ts";

export { StreamingServer, type StreamingServerOptions } from "./server.ts";
export { TokenStore } from "./tokens.ts";
export type * from "./types.ts";

export interface RuntimeStreamingDeps {
  containers: ContainerLookup;
  sandboxes: SandboxProvider;
}

/** The backend kubelet's streams end up in: real containers and pods. */
export function runtimeStreamingBackend(deps: RuntimeStreamingDeps): StreamingBackend {
  return {
    async exec(req, streams, signal) {
      const c = requireRunning(
        deps.containers.getContainerForStreaming(req.containerId),
        req.containerId,
      );
      return execStreaming(c, req.cmd, req.tty, streams, signal);
    },
    async attach(req, streams, signal) {
      const c = requireRunning(
        deps.containers.getContainerForStreaming(req.containerId),
        req.containerId,
      );
      const { attachContainer } = await import("../runtime/attach.ts");
      return attachContainer(c, streams, signal);
    },
    async portForward(podSandboxId, port, conn, signal) {
      const sb = deps.sandboxes.getSandbox(podSandboxId);
      if (!sb) throw new NotFoundError(`pod sandbox ${podSandboxId} not found`);
      if (sb.state !== "SANDBOX_READY") {
        throw new FailedPreconditionError(`pod sandbox ${podSandboxId} is not ready`);
      }
      const { forwardPort } = await import("../network/portforward.ts");
      return forwardPort({ netnsPath: sb.hostNetwork ? null : sb.netnsPath }, port, conn, signal);
    },
  };
}
