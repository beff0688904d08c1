/**
 * UpdateContainerResources, UpdatePodSandboxResources, ReopenContainerLog,
 * CheckpointContainer: protobuf ⇄ ContainerMaintenance calls.
 */
import type { ContainerMaintenance } from "../../runtime/maintenance.ts";
import type { CriHandlers } from "../handler.ts";
import { optionalLinuxResources } from "../convert/mod.ts";

export function maintenanceHandlers(m: ContainerMaintenance): CriHandlers {
  return {
    UpdateContainerResources: async (req) => {
      // Windows resources mean nothing on Linux: without Linux ones, nothing changes.
      await m.updateResources(req.container_id, optionalLinuxResources(req.linux));
      return {};
    },

    UpdatePodSandboxResources: async (req) => {
      m.updatePodResources(
        req.pod_sandbox_id,
        optionalLinuxResources(req.resources),
        optionalLinuxResources(req.overhead),
      );
      return {};
    },

    ReopenContainerLog: async (req, ctx) => {
      await m.reopenLog(req.container_id, ctx.signal);
      return {};
    },

    CheckpointContainer: async (req) => {
      await m.checkpoint(req.container_id, req.location, Number(req.timeout || 0));
      return {};
    },
  };
}
