/**
 * GetContainerEvents: a server stream of container lifecycle events from the event bus,
 * each with the pod sandbox's status and the statuses of the pod's containers (as
 * containerd sends them), built by calling the in-process PodSandboxStatus, ListContainers
 * and ContainerStatus handlers, whichever exist. The events themselves are published by
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
import { type EventBus, SubscriberDroppedError } from "../../runtime/events.ts";
import type { ContainerEventResponse, ContainerStatus, PodSandboxStatus } from "../types.ts";
import {
  type CallContext,
  type CriHandlers,
  type DeepPartial,
  type HandlerFor,
  nanos,
} from "../handler.ts";

export interface EventsDeps {
  bus: EventBus<ContainerEvent>;
  /** The daemon's CRI handlers (looked up per event: they are composed after this). */
  handlers: () => CriHandlers;
  log: Logger;
}

async function podStatus(
  h: CriHandlers,
  id: string,
  ctx: CallContext,
): Promise<DeepPartial<PodSandboxStatus> | null> {
  const fn = h.PodSandboxStatus as HandlerFor<"PodSandboxStatus"> | undefined;
  if (!fn) return null;
  try {
    return (await fn({ pod_sandbox_id: id, verbose: false }, ctx)).status ?? null;
  } catch {
    return null; // removed meanwhile
  }
}

async function containerStatuses(
  h: CriHandlers,
  sandboxId: string,
  ctx: CallContext,
): Promise<DeepPartial<ContainerStatus>[]> {
  const list = h.ListContainers as HandlerFor<"ListContainers"> | undefined;
  const status = h.ContainerStatus as HandlerFor<"ContainerStatus"> | undefined;
  if (!list || !status) return [];
  let ids: string[];
  try {
    const res = await list({
      filter: { id: "", state: null, pod_sandbox_id: sandboxId, label_selector: {} },
    }, ctx);
    ids = (res.containers ?? []).map((c) => c?.id ?? "").filter(Boolean);
  } catch {
    return [];
  }
  const out: DeepPartial<ContainerStatus>[] = [];
  for (const id of ids) {
    try {
      const s = (await status({ container_id: id, verbose: false }, ctx)).status;
      if (s) out.push(s);
    } catch {
      // removed between list and status: it is simply not part of the pod any more
    }
  }
  return out;
}

export async function eventResponse(
  ev: ContainerEvent,
  handlers: CriHandlers,
  ctx: CallContext,
): Promise<DeepPartial<ContainerEventResponse>> {
  return {
    container_id: ev.containerId,
    container_event_type: ev.type,
    created_at: nanos(ev.at),
    pod_sandbox_status: await podStatus(handlers, ev.sandboxId, ctx),
    containers_statuses: await containerStatuses(handlers, ev.sandboxId, ctx),
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
          await send(await eventResponse(ev, deps.handlers(), ctx));
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
