/**
 * RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus, ListPodSandbox,
 * StreamPodSandboxes: protobuf ⇄ SandboxService calls, nothing more.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { PodSandbox, PodSandboxFilter, PodSandboxStatus } from "../types.ts";
import { type SandboxRecord, type SandboxService, stateOf } from "../../runtime/sandbox/mod.ts";
import { type CriHandlers, type DeepPartial, nanos } from "../handler.ts";

/** How many sandboxes one StreamPodSandboxes message carries. */
const STREAM_BATCH = 256;

function toPodSandbox(r: SandboxRecord): DeepPartial<PodSandbox> {
  return {
    id: r.id,
    metadata: { name: r.name, namespace: r.namespace, uid: r.uid, attempt: r.attempt },
    state: stateOf(r),
    created_at: nanos(r.createdAt),
    labels: r.config.labels ?? {},
    annotations: r.config.annotations ?? {},
    runtime_handler: r.runtimeHandler,
  };
}

function toStatus(r: SandboxRecord): DeepPartial<PodSandboxStatus> {
  const [ip, ...more] = r.phase === "ready" ? r.ips : [];
  return {
    ...toPodSandbox(r),
    network: { ip: ip ?? "", additional_ips: more.map((x) => ({ ip: x })) },
    linux: {
      namespaces: {
        options: {
          network: r.namespaceModes.network,
          pid: r.namespaceModes.pid,
          ipc: r.namespaceModes.ipc,
        },
      },
    },
  };
}

function toFilter(f: PodSandboxFilter | null | undefined) {
  return {
    id: f?.id || undefined,
    state: f?.state?.state,
    labelSelector: f?.label_selector ?? {},
  };
}

export function sandboxHandlers(sandboxes: SandboxService): CriHandlers {
  return {
    RunPodSandbox: async (req) => {
      if (!req.config) throw new InvalidArgumentError("RunPodSandbox needs a pod sandbox config");
      const rec = await sandboxes.run(req.config, req.runtime_handler);
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
        status: toStatus(rec),
        info: req.verbose ? { info: JSON.stringify(sandboxes.verboseInfo(rec)) } : {},
        containers_statuses: [],
        timestamp: nanos(Date.now()),
      };
    },

    ListPodSandbox: async (req) => ({
      items: sandboxes.list(toFilter(req.filter)).map(toPodSandbox),
    }),

    StreamPodSandboxes: async (req, _ctx, send) => {
      const all = sandboxes.list(toFilter(req.filter)).map(toPodSandbox);
      for (let i = 0; i < all.length; i += STREAM_BATCH) {
        await send({ pod_sandboxes: all.slice(i, i + STREAM_BATCH) });
      }
    },
  };
}
