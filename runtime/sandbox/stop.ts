/**
 * StopPodSandbox: the pod's remaining containers killed, its infra process stopped, its
 * network attachment released; the namespaces and files stay until the pod is removed.
 */
import { logger } from "../../core/log.ts";
import type { SandboxContext } from "./context.ts";
import { stopInfra } from "./infra.ts";
import type { SandboxRecord } from "./records.ts";
import { eventsFor, isVisible } from "./state.ts";

const log = logger("sandbox");

/** Idempotent: unknown IDs, half-made and stopped sandboxes succeed. */
export async function stopSandbox(ctx: SandboxContext, idOrPrefix: string): Promise<void> {
  const found = ctx.records.find(idOrPrefix);
  if (!found) return;
  await ctx.lock.run(found.id, async () => {
    const rec = ctx.records.get(found.id);
    // A half-made sandbox does not exist for clients; its undo (or recovery) owns it.
    if (!rec || !isVisible(rec.phase)) return;
    await stopLocked(ctx, rec);
  });
}

async function stopLocked(ctx: SandboxContext, rec: SandboxRecord): Promise<void> {
  // kubelet has stopped the containers with their grace periods already; what is left
  // is killed at once, as containerd does.
  await ctx.podContainers().stopPodContainers(rec.id, 0);
  if (rec.infra) await stopInfra(rec.infra);
  const detached = await ctx.network.detach(rec);
  if (rec.phase !== "ready") {
    if (detached) ctx.records.save(rec);
    return;
  }
  // One write (an fsync) for both: the transition saves the detached network state too.
  ctx.records.transition(rec, "notready");
  log.info("pod sandbox stopped", { id: rec.id, pod: `${rec.namespace}/${rec.name}` });
  ctx.publish(rec.id, eventsFor("ready", "notready"));
}
