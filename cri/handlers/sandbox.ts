/**
 * RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox,
 * StreamPodSandboxes: protobuf ⇄ SandboxService calls, nothing more.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { SandboxService } from "../../runtime/sandbox/mod.ts";
import type { CriHandlers } from "../handler.ts";
import {
  nanos,
  pages,
  podSandboxConfig,
  podSandboxEntry,
  podSandboxListFilter,
  podSandboxStatus,
} from "../convert/mod.ts";

/** How many sandboxes one StreamPodSandboxes message carries. */
const STREAM_BATCH = 256;

export function sandboxHandlers(sandboxes: SandboxService): CriHandlers {
  return {
    RunPodSandbox: async (req) => {
      if (!req.config) throw new InvalidArgumentError("RunPodSandbox needs a pod sandbox config");
      const rec = await sandboxes.run(podSandboxConfig(req.config), req.runtime_handler);
      return { pod_sandbox_id: rec.id };
    },

    StopPodSandbox: async (req) => {
      await sandboxes.stop(req.pod_sandbox_id);
      return {};
    },

    RemovePodSandbox: async (req) => {
      await sandboxes.remove(req.pod_sandbox_id);
      return {};
    },

    PodSandboxStatus: async (req) => {
      const rec = sandboxes.status(req.pod_sandbox_id);
      return {
        status: podSandboxStatus(rec),
        info: req.verbose ? { info: JSON.stringify(sandboxes.verboseInfo(rec)) } : {},
        containers_statuses: [],
        timestamp: nanos(Date.now()),
      };
    },

    ListPodSandbox: async (req) => ({
      items: sandboxes.list(podSandboxListFilter(req.filter)).map(podSandboxEntry),
    }),

    StreamPodSandboxes: async (req, _ctx, send) => {
      const all = sandboxes.list(podSandboxListFilter(req.filter)).map(podSandboxEntry);
      for (const page of pages(all, STREAM_BATCH)) await send({ pod_sandboxes: page });
    },
  };
}
