/** Sandbox records → CRI's PodSandbox (list entry) and PodSandboxStatus. */
import type { PodSandbox, PodSandboxStatus } from "../types.ts";
import { type SandboxRecord, stateOf } from "../../runtime/sandbox/mod.ts";
import type { DeepPartial } from "../handler.ts";
import { nanos } from "./values.ts";

/**
 * The entries handed out, by record (records are frozen and replaced when they change), so
 * the reply codec can reuse an unchanged pod's encoded bytes (cri/proto.ts).
 */
const entries = new WeakMap<SandboxRecord, DeepPartial<PodSandbox>>();

/** ListPodSandbox/StreamPodSandboxes entry (frozen; the same object for the same record). */
export function podSandboxEntry(r: SandboxRecord): DeepPartial<PodSandbox> {
  let entry = entries.get(r);
  if (!entry) {
    entry = Object.freeze(newPodSandboxEntry(r));
    // Only a frozen record never changes under its entry.
    if (Object.isFrozen(r)) entries.set(r, entry);
  }
  return entry;
}

function newPodSandboxEntry(r: SandboxRecord): DeepPartial<PodSandbox> {
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

/** The entry plus the pod's IPs (only while ready) and namespace modes. */
export function podSandboxStatus(r: SandboxRecord): DeepPartial<PodSandboxStatus> {
  const [ip, ...more] = r.phase === "ready" ? r.ips : [];
  return {
    ...podSandboxEntry(r),
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
