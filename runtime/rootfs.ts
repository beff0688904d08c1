/**
 * A container's root filesystem: an overlay of the image's layers (read-only lowers) and
 * the container's own upper and work directories.
 */
import { InternalError } from "../core/errors.ts";
import { isMountedSync, MNT_DETACH, mountSync, umountSync } from "../linux/mounts.ts";

/** Whether `path` is a mount point (listed in this process's mountinfo). */
export const isMounted = isMountedSync;

/**
 * Mounts the overlay at `target`. `layerDirs` are lowest (base) first, as image/ gives
 * them; overlayfs wants the topmost lower first.
 */
export async function mountRootfs(
  layerDirs: string[],
  upper: string,
  work: string,
  target: string,
): Promise<void> {
  if (layerDirs.length === 0) throw new InternalError("image has no layers to mount");
  await Deno.mkdir(upper, { recursive: true, mode: 0o755 });
  await Deno.mkdir(work, { recursive: true, mode: 0o700 });
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  if (isMounted(target)) return;
  const lower = [...layerDirs].reverse().join(":");
  const opts = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  try {
    mountSync("overlay", target, "overlay", opts);
  } catch (err) {
    throw new InternalError(
      `cannot mount the container rootfs at ${target}: ${(err as Error).message}`,
    );
  }
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
  const lowers = [...layerDirs].reverse();
  if (lowers.length === 1) lowers.push(emptyDir);
  const MS_RDONLY = 1;
  try {
    mountSync("overlay", target, "overlay", `lowerdir=${lowers.join(":")}`, MS_RDONLY);
  } catch (err) {
    throw new InternalError(
      `cannot mount the image volume at ${target}: ${(err as Error).message}`,
    );
  }
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
