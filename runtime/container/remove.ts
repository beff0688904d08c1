/**
 * RemoveContainer: stops a live container, frees its runtime state and forgets it; what it
 * leaves on the node (cgroups, mounts, dirs) is removed right after the reply by the
 * service's cleanup queue (cleanup.ts), from a record written with the forgetting.
 * Removing a container that does not exist succeeds, as containerd's does.
 */
import { errorMessage, NotFoundError } from "../../core/errors.ts";
import { leftoversOf, removeLeftovers } from "./cleanup.ts";
import type { ContainerRecord } from "./record.ts";
import type { ContainerContext } from "./service.ts";
import { canRemove } from "./state.ts";
import { stopLocked } from "./stop.ts";

export async function removeContainer(ctx: ContainerContext, idOrPrefix: string): Promise<void> {
  let rec: ContainerRecord;
  try {
    rec = ctx.resolve(idOrPrefix);
  } catch (err) {
    if (err instanceof NotFoundError) return; // idempotent, as containerd
    throw err;
  }
  await ctx.locks.run(rec.id, async () => {
    const current = ctx.cache.get(rec.id);
    if (!current || !canRemove(current)) return;
    await stopLocked(ctx, rec.id, 0);
    await releaseRuntime(ctx, current);
    // Its leftovers are recorded in the same transaction that deletes its record; once that
    // has committed it is gone from every list and its name is free.
    ctx.cleanups.add(leftoversOf(current), () => ctx.records.delete(current.id));
    ctx.forgetInMemory(current);
    ctx.publish("CONTAINER_DELETED_EVENT", current);
    ctx.log.info("container removed", { id: rec.id });
  });
}

/**
 * Removes everything a half-made container has on the node (a failed create, or one a
 * crash interrupted) before returning, and its record; what cannot go yet is left to the
 * cleanup queue.
 */
export async function destroyContainer(ctx: ContainerContext, rec: ContainerRecord): Promise<void> {
  await releaseRuntime(ctx, rec);
  const leftovers = leftoversOf(rec);
  try {
    await removeLeftovers(ctx, leftovers);
    ctx.forget(rec);
  } catch (err) {
    ctx.log.warn("container leftovers not removed yet", { id: rec.id, err: errorMessage(err) });
    ctx.cleanups.add(leftovers, () => ctx.records.delete(rec.id));
    ctx.forgetInMemory(rec);
  }
}

/** Waits for a background reap; deletes the OCI runtime's state if it still has some. */
async function releaseRuntime(ctx: ContainerContext, rec: ContainerRecord): Promise<void> {
  await ctx.reaps.get(rec.id);
  if (!ctx.reaped.delete(rec.id) && await hasRuntimeState(rec)) {
    await ctx.runtimeFor(rec).delete(rec.id).catch(() => {});
  }
}

/**
 * Whether the OCI runtime keeps state for the container (runc and crun: `<root>/<id>/`).
 * A container that was never started has none: no `runc delete` spawn (~6 ms) to find that
 * out. When in doubt, yes.
 */
async function hasRuntimeState(rec: ContainerRecord): Promise<boolean> {
  if (!rec.runtimeRoot) return true;
  try {
    await Deno.lstat(`${rec.runtimeRoot}/${rec.id}`);
    return true;
  } catch (err) {
    return !(err instanceof Deno.errors.NotFound);
  }
}
