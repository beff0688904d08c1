/**
 * CreateContainer, StartContainer, StopContainer, RemoveContainer, ContainerStatus,
 * ListContainers, StreamContainers: protobuf ⇄ ContainerService calls, nothing more.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { ContainerService } from "../../runtime/container/mod.ts";
import type { CriHandlers } from "../handler.ts";
import {
  containerConfig,
  containerEntry,
  containerListFilter,
  containerStatus,
  containerVerboseInfo,
  pages,
} from "../convert/mod.ts";

/** How many containers one StreamContainers message carries. */
const STREAM_BATCH = 256;

export function containerHandlers(containers: ContainerService): CriHandlers {
  return {
    CreateContainer: async (req) => {
      if (!req.config) throw new InvalidArgumentError("CreateContainer needs a container config");
      if (!req.pod_sandbox_id) {
        throw new InvalidArgumentError("CreateContainer needs pod_sandbox_id");
      }
      const id = await containers.create(req.pod_sandbox_id, containerConfig(req.config));
      return { container_id: id };
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
        status: containerStatus(rec),
        info: req.verbose ? { info: containerVerboseInfo(rec, containers.spec(rec)) } : {},
      };
    },

    ListContainers: async (req) => ({
      containers: containers.list(containerListFilter(req.filter)).map(containerEntry),
    }),

    StreamContainers: async (req, _ctx, send) => {
      const all = containers.list(containerListFilter(req.filter)).map(containerEntry);
      for (const page of pages(all, STREAM_BATCH)) await send({ containers: page });
    },
  };
}
