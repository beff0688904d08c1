/**
 * A container's root filesystem: an overlay of the image's layers (read-only lowers) and
 * the container's own upper and work directories.
 *
 * In a pod with its own user namespace, each lower layer is first cloned as an idmapped
 * mount with the pod's mapping (so image-owned files show their image owners inside, with
 * no chowned copy of any layer), the overlay is made over those clones, and the clones are
 * detached at once (overlayfs keeps private references to its layers). The upper dir's root
 * is owned by the pod's root, and what the container writes lands there as its host IDs.
 */
import { InternalError, SkiffError } from "../core/errors.ts";
import { mountIdmapped } from "../linux/idmap.ts";
import {
  isMountedSync,
  MNT_DETACH,
  mountsUnder,
  umountPooled,
  umountSync,
} from "../linux/mounts.ts";
import { mountOverlaySync, type OverlayLayers } from "../linux/overlay.ts";
import type { SandboxForContainer } from "./contracts.ts";

/** Whether `path` is a mount point (listed in this process's mountinfo). */
export const isMounted = isMountedSync;

/** How a rootfs in a pod's own user namespace is mapped. */
export interface RootfsIdmap {
  usernsPath: string;
  /** Host IDs of the pod's root: the owner of the upper dir. */
  rootUid: number;
  rootGid: number;
  /** Scratch dir for the idmapped layer clones while the overlay is mounted. */
  scratchDir: string;
}

/** The idmapping of a container's rootfs in `sandbox`, or null in the host's user namespace. */
export function rootfsIdmapFor(
  sandbox: SandboxForContainer,
  bundleDir: string,
): RootfsIdmap | null {
  if (!sandbox.usernsPath || !sandbox.idMappings) return null;
  return {
    usernsPath: sandbox.usernsPath,
    rootUid: sandbox.idMappings.uids.host_id,
    rootGid: sandbox.idMappings.gids.host_id,
    scratchDir: `${bundleDir}/idmap-layers`,
  };
}

/**
 * Mounts the overlay at `target` through the one builder (linux/overlay.ts: one fsconfig
 * per layer, so up to overlayfs's 500 layers). `layerDirs` are lowest (base) first, as
 * image/ gives them; overlayfs wants the topmost lower first. Used at create and again at
 * start after a node reboot.
 */
export async function mountRootfs(
  layerDirs: string[],
  upper: string,
  work: string,
  target: string,
  idmap: RootfsIdmap | null = null,
): Promise<void> {
  if (layerDirs.length === 0) throw new InternalError("image has no layers to mount");
  await Deno.mkdir(upper, { recursive: true, mode: 0o755 });
  await Deno.mkdir(work, { recursive: true, mode: 0o700 });
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  if (isMounted(target)) return;
  if (idmap) await Deno.chown(upper, idmap.rootUid, idmap.rootGid);
  const clones = idmap ? await idmapLayers(layerDirs, idmap) : [];
  const lowerTopFirst = [...(idmap ? clones : layerDirs)].reverse();
  try {
    mountOverlay(target, { lowerTopFirst, upper, work }, "the container rootfs");
  } finally {
    if (idmap) await dropScratch(idmap.scratchDir);
  }
}

/** The builder, its kernel errors said as "cannot mount <what>"; refusals kept as they are. */
function mountOverlay(target: string, layers: OverlayLayers, what: string): void {
  try {
    mountOverlaySync(target, layers);
  } catch (err) {
    if (err instanceof SkiffError && !(err instanceof InternalError)) throw err;
    throw new InternalError(`cannot mount ${what} at ${target}: ${(err as Error).message}`);
  }
}

/** Idmapped clones of the layers under the scratch dir, lowest first. */
async function idmapLayers(layerDirs: string[], idmap: RootfsIdmap): Promise<string[]> {
  await dropScratch(idmap.scratchDir);
  const clones: string[] = [];
  try {
    for (const [i, dir] of layerDirs.entries()) {
      const clone = `${idmap.scratchDir}/${i}`;
      await mountIdmapped(dir, clone, idmap.usernsPath);
      clones.push(clone);
    }
  } catch (err) {
    await dropScratch(idmap.scratchDir);
    throw new InternalError(
      `cannot map the image's layers into the pod's user namespace: ${(err as Error).message}`,
    );
  }
  return clones;
}

/** Detaches every mount under `dir` (deepest first); true when none is left. */
export function detachMountsUnder(dir: string): boolean {
  const under = () =>
    Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .map((l) => l.split(" ")[4]?.replace(/\\040/g, " "))
      .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + "/")))
      .sort((a, b) => b.length - a.length);
  for (const m of under()) umountSync(m, MNT_DETACH);
  return under().length === 0;
}

/** Detaches the scratch clones and removes the dir (never while anything is mounted in it). */
async function dropScratch(dir: string): Promise<void> {
  if (!detachMountsUnder(dir)) throw new InternalError(`cannot unmount the mounts under ${dir}`);
  await Deno.remove(dir, { recursive: true }).catch((e) => {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  });
}

/**
 * Mounts an image's layers read-only at `target` (an image volume). overlayfs needs two
 * lower layers when it has no upper one, so a one-layer image gets an empty second lower.
 */
export async function mountReadOnlyLayers(
  layerDirs: string[],
  target: string,
  emptyDir: string,
): Promise<void> {
  if (layerDirs.length === 0) throw new InternalError("image has no layers to mount");
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  await Deno.mkdir(emptyDir, { recursive: true, mode: 0o755 });
  if (isMounted(target)) return;
  const lowerTopFirst = [...layerDirs].reverse();
  if (lowerTopFirst.length === 1) lowerTopFirst.push(emptyDir);
  mountOverlay(target, { lowerTopFirst, readOnly: true }, "the image volume");
}

/** Unmounts the rootfs; a no-op when nothing is mounted there. */
export async function unmountRootfs(target: string): Promise<void> {
  for (let i = 0; i < 5 && isMounted(target); i++) {
    const r = umountSync(target);
    if (r.errno === 0) continue;
    if (i === 4) {
      // Still busy after retries: detach it so that nothing is left in the mount table.
      const lazy = umountSync(target, MNT_DETACH);
      if (lazy.errno !== 0) throw new InternalError(`cannot unmount ${target}: ${lazy.text}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50 * (i + 1)));
  }
}

/** How many times a busy mount is tried again before it is detached. */
const UNMOUNT_TRIES = 5;

/**
 * Unmounts everything mounted at or under `dir` (a container's rootfs, image volumes and
 * idmapped clones), deepest first, without holding the event loop. A mount still busy after
 * a few tries is detached, so that nothing is left in the mount table; throws if one stays
 * all the same, so that nothing under it is ever deleted through a mount.
 */
export async function unmountUnder(dir: string): Promise<void> {
  for (let i = 0; i < UNMOUNT_TRIES; i++) {
    const mounts = await mountsUnder(dir);
    if (mounts.length === 0) return;
    if (i > 0) await new Promise((r) => setTimeout(r, 50 * i));
    const flags = i === UNMOUNT_TRIES - 1 ? MNT_DETACH : 0;
    for (const m of mounts) await umountPooled(m, flags);
  }
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new InternalError(`cannot unmount ${left.join(", ")}`);
}
