/**
 * GetContainerEvents: a server stream of container lifecycle events from the event bus,
 * each with the pod sandbox's status and the statuses of the pod's containers (as
 * containerd sends them), read from the sandbox and container services and converted like
 * PodSandboxStatus and ContainerStatus replies. The events themselves are published by
 * their owners (containers, and pod sandboxes for their own lifecycle); this is only the
 * wire side.
 *
 * Every subscriber gets every event in order; one that cannot keep up (its client stops
 * reading and gRPC's buffers fill) is dropped with RESOURCE_EXHAUSTED, never slowing the
 * runtime. kubelet then reconnects and relists.
 */
import { ResourceExhaustedError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { ContainerEvent } from "../../runtime/contracts.ts";
import type { ContainerService } from "../../runtime/container/mod.ts";
import { type EventBus, SubscriberDroppedError } from "../../runtime/events.ts";
import type { SandboxService } from "../../runtime/sandbox/mod.ts";
import type { ContainerEventResponse, PodSandboxStatus } from "../types.ts";
import { containerStatus, podSandboxStatus } from "../convert/mod.ts";
import { type CriHandlers, type DeepPartial, nanos } from "../handler.ts";

export interface EventsDeps {
  bus: EventBus<ContainerEvent>;
  sandboxes: Pick<SandboxService, "status">;
  containers: Pick<ContainerService, "list">;
  log: Logger;
}

function podStatus(deps: EventsDeps, id: string): DeepPartial<PodSandboxStatus> | null {
  try {
    return podSandboxStatus(deps.sandboxes.status(id));
  } catch {
    return null; // removed meanwhile
  }
}

export function eventResponse(
  ev: ContainerEvent,
  deps: EventsDeps,
): DeepPartial<ContainerEventResponse> {
  return {
    container_id: ev.containerId,
    container_event_type: ev.type,
    created_at: nanos(ev.at),
    pod_sandbox_status: podStatus(deps, ev.sandboxId),
    containers_statuses: deps.containers.list({ sandboxId: ev.sandboxId }).map(containerStatus),
  };
}

export function eventsHandlers(deps: EventsDeps): CriHandlers {
  return {
    GetContainerEvents: async (_req, ctx, send) => {
      // Subscribe before anything else so no event published from here on is missed.
      const sub = deps.bus.subscribe();
      const onAbort = () => sub.close();
      ctx.signal.addEventListener("abort", onAbort);
      try {
        while (!ctx.signal.aborted) {
          const ev = await sub.next();
          if (ev === null) return; // client went away, or Skiff is shutting down
          await send(eventResponse(ev, deps));
        }
      } catch (err) {
        if (err instanceof SubscriberDroppedError) {
          deps.log.warn("container event subscriber dropped: it fell behind", {
            buffer: err.buffer,
          });
          throw new ResourceExhaustedError(
            `${err.message} (the client read events too slowly)`,
            { cause: err },
          );
        }
        throw err;
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        sub.close();
      }
    },
  };
}
