/**
 * RemoveContainer: stops a live container, then removes everything it has on the node.
 * Removing a container that does not exist succeeds, as containerd's does.
 */
import { dirname } from "node:path";
import { NotFoundError } from "../../core/errors.ts";
import { unmountRootfs } from "../rootfs.ts";
import { removeConmonCgroups } from "./conmon_cgroups.ts";
import { dropIdmapMounts } from "./idmap_mounts.ts";
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
    await destroyContainer(ctx, current);
    ctx.publish("CONTAINER_DELETED_EVENT", current);
    ctx.log.info("container removed", { id: rec.id });
  });
}

/**
 * Removes everything a container has on the node: runtime state, mounts, dirs, record.
 * Also undoes a half-made one (a failed create, or one a crash interrupted).
 */
export async function destroyContainer(ctx: ContainerContext, rec: ContainerRecord): Promise<void> {
  await ctx.reaps.get(rec.id);
  if (!ctx.reaped.delete(rec.id) && await hasRuntimeState(rec)) {
    await ctx.runtimeFor(rec).delete(rec.id).catch(() => {});
  }
  // Independent removals run together: each async fs call is a round trip to Deno's
  // blocking pool, and in sequence they were most of RemoveContainer's time.
  const unmountAndRemoveBundle = async () => {
    await unmountRootfs(`${rec.bundleDir}/rootfs`);
    try {
      for (const e of Deno.readDirSync(`${rec.bundleDir}/image-volumes`)) {
        await unmountRootfs(`${rec.bundleDir}/image-volumes/${e.name}`);
      }
    } catch { /* no image volumes */ }
    // The idmapped clones go first, so that nothing below them is removed through them.
    dropIdmapMounts(rec.bundleDir);
    await Promise.all([
      Deno.remove(rec.bundleDir, { recursive: true }).catch(() => {}),
      Deno.remove(dirname(rec.upperDir), { recursive: true }).catch(() => {}),
    ]);
  };
  await Promise.all([
    removeConmonCgroups(rec),
    unmountAndRemoveBundle(),
    Deno.remove(`${ctx.exitDir}/${rec.id}`).catch(() => {}),
    Deno.remove(`${ctx.socketDir}/${rec.id}`, { recursive: true }).catch(() => {}),
  ]);
  ctx.forget(rec);
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
