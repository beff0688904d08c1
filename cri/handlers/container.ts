/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, ContainerStatus,
 * ListContainers, StreamContainers: protobuf ⇄ ContainerService calls, nothing more.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Container, ContainerFilter, ContainerStatus, Signal } from "../types.ts";
import type {
  ContainerListFilter,
  ContainerRecord,
  ContainerService,
} from "../../runtime/container/mod.ts";
import { type CriHandlers, type DeepPartial, nanos } from "../handler.ts";

/** How many containers one StreamContainers message carries. */
const STREAM_BATCH = 256;

const ts = (ms: number) => (ms > 0 ? nanos(ms) : "0");

function toContainer(r: ContainerRecord): DeepPartial<Container> {
  return {
    id: r.id,
    pod_sandbox_id: r.sandboxId,
    metadata: { name: r.name, attempt: r.attempt },
    image: r.image,
    image_ref: r.imageRef,
    image_id: r.imageId,
    state: r.state,
    created_at: ts(r.createdAt),
    labels: r.labels,
    annotations: r.annotations,
  };
}

/** CRI's Signal enum names the signal Skiff stops the container with. */
function stopSignalName(s: string): Signal {
  return /^SIG[A-Z0-9]+$/.test(s) ? (s as Signal) : "RUNTIME_DEFAULT";
}

function toStatus(r: ContainerRecord): DeepPartial<ContainerStatus> {
  return {
    id: r.id,
    metadata: { name: r.name, attempt: r.attempt },
    state: r.state,
    created_at: ts(r.createdAt),
    started_at: ts(r.startedAt),
    finished_at: ts(r.finishedAt),
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

function toFilter(f: ContainerFilter | null | undefined): ContainerListFilter {
  return {
    id: f?.id || undefined,
    state: f?.state?.state,
    sandboxId: f?.pod_sandbox_id || undefined,
    labels: f?.label_selector ?? {},
  };
}

export function containerHandlers(containers: ContainerService): CriHandlers {
  return {
    CreateContainer: async (req) => {
      if (!req.config) throw new InvalidArgumentError("CreateContainer needs a container config");
      if (!req.pod_sandbox_id) {
        throw new InvalidArgumentError("CreateContainer needs pod_sandbox_id");
      }
      return { container_id: await containers.create(req.pod_sandbox_id, req.config) };
    },

    StartContainer: async (req) => {
      await containers.start(req.container_id);
      return {};
    },

    StopContainer: async (req) => {
      await containers.stop(req.container_id, Number(req.timeout ?? "0"));
      return {};
    },

    RemoveContainer: async (req) => {
      await containers.remove(req.container_id);
      return {};
    },

    ContainerStatus: async (req) => {
      const rec = containers.get(req.container_id);
      return {
        status: toStatus(rec),
        info: req.verbose
          ? {
            info: JSON.stringify({
              sandboxID: rec.sandboxId,
              pid: rec.state === "CONTAINER_RUNNING" ? rec.pid : 0,
              conmonPid: rec.conmonPid,
              runtimeHandler: rec.runtimeHandler,
              runtimeType: rec.runtimeBinary,
              bundle: rec.bundleDir,
              snapshotter: "overlayfs",
              runtimeSpec: containers.spec(rec),
            }),
          }
          : {},
      };
    },

    ListContainers: async (req) => ({
      containers: containers.list(toFilter(req.filter)).map(toContainer),
    }),

    StreamContainers: async (req, _ctx, send) => {
      const all = containers.list(toFilter(req.filter)).map(toContainer);
      for (let i = 0; i < all.length; i += STREAM_BATCH) {
        await send({ containers: all.slice(i, i + STREAM_BATCH) });
      }
      if (all.length === 0) await send({ containers: [] });
    },
  };
}
