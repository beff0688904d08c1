/** Container records → CRI's Container (list entry) and ContainerStatus. */
import type { Container, ContainerStatus, Signal } from "../types.ts";
import type { ContainerRecord } from "../../runtime/container/mod.ts";
import type { DeepPartial } from "../handler.ts";
import { nanosOrZero } from "./values.ts";

/**
 * The entries handed out, by record: after creation only a container's state changes what
 * its entry holds. The same frozen entry for an unchanged record lets the reply codec reuse
 * its encoded bytes (cri/proto.ts): kubelet relists every second.
 */
const entries = new WeakMap<ContainerRecord, { state: string; entry: DeepPartial<Container> }>();

/** ListContainers/StreamContainers entry (frozen; the same object while the state holds). */
export function containerEntry(r: ContainerRecord): DeepPartial<Container> {
  const known = entries.get(r);
  if (known?.state === r.state) return known.entry;
  const entry = Object.freeze(newContainerEntry(r));
  entries.set(r, { state: r.state, entry });
  return entry;
}

function newContainerEntry(r: ContainerRecord): DeepPartial<Container> {
  // ImageSpec.image_ref is the digest of an image *volume* (CRI v1): the container's own image
  // is image_ref/image_id below. Left out here as containerd does, the entry kubelet relists
  // every second is ~15% smaller.
  const { image_ref: _volumeOnly, ...image } = r.image;
  return {
    id: r.id,
    pod_sandbox_id: r.sandboxId,
    metadata: { name: r.name, attempt: r.attempt },
    image,
    image_ref: r.imageRef,
    image_id: r.imageId,
    state: r.state,
    created_at: nanosOrZero(r.createdAt),
    labels: r.labels,
    annotations: r.annotations,
  };
}

/** CRI's Signal enum names the signal Skiff stops the container with. */
export function stopSignalName(s: string): Signal {
  return /^SIG[A-Z0-9]+$/.test(s) ? (s as Signal) : "RUNTIME_DEFAULT";
}

/** ContainerStatus as kubelet reads it: times in ns ("0" when not yet), exit code, reason. */
export function containerStatus(r: ContainerRecord): DeepPartial<ContainerStatus> {
  return {
    id: r.id,
    metadata: { name: r.name, attempt: r.attempt },
    state: r.state,
    created_at: nanosOrZero(r.createdAt),
    started_at: nanosOrZero(r.startedAt),
    finished_at: nanosOrZero(r.finishedAt),
    exit_code: r.exitCode,
    image: r.image,
    image_ref: r.imageRef,
    image_id: r.imageId,
    reason: r.reason,
    message: r.message,
    labels: r.labels,
    annotations: r.annotations,
    mounts: r.mounts,
    log_path: r.logPath,
    resources: r.resources ? { linux: r.resources } : null,
    user: {
      linux: {
        uid: String(r.user.uid),
        gid: String(r.user.gid),
        supplemental_groups: r.user.additionalGids.map(String),
      },
    },
    stop_signal: stopSignalName(r.stopSignal),
  };
}

/** ContainerStatus verbose `info`: what crictl inspect shows, under containerd's keys. */
export function containerVerboseInfo(r: ContainerRecord, runtimeSpec: unknown): string {
  return JSON.stringify({
    sandboxID: r.sandboxId,
    pid: r.state === "CONTAINER_RUNNING" ? r.pid : 0,
    conmonPid: r.conmonPid,
    runtimeHandler: r.runtimeHandler,
    runtimeType: r.runtimeBinary,
    bundle: r.bundleDir,
    snapshotter: "overlayfs",
    runtimeSpec,
  });
}
