/**
 * A container's root filesystem: an overlay of the image's layers (read-only lowers) and
 * the container's own upper and work directories.
 */
import { InternalError } from "../core/errors.ts";

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .output();
  return { ok: out.success, stderr: new TextDecoder().decode(out.stderr).trim() };
}

/** Whether `path` is a mount point (listed in this process's mountinfo). */
export function isMounted(path: string): boolean {
  const info = Deno.readTextFileSync("/proc/self/mountinfo");
  for (const line of info.split("\n")) {
    const target = line.split(" ")[4];
    if (target && target.replace(/\\040/g, " ") === path) return true;
  }
  return false;
}

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
  // `mount` takes the option string as one argv element: no shell is involved.
  const r = await run("mount", ["-t", "overlay", "overlay", "-o", opts, target]);
  if (!r.ok) {
    throw new InternalError(`cannot mount the container rootfs at ${target}: ${r.stderr}`);
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
  const r = await run("mount", [
    "-t",
    "overlay",
    "overlay",
    "-o",
    `ro,lowerdir=${lowers.join(":")}`,
    target,
  ]);
  if (!r.ok) throw new InternalError(`cannot mount the image volume at ${target}: ${r.stderr}`);
}

/** Unmounts the rootfs; a no-op when nothing is mounted there. */
export async function unmountRootfs(target: string): Promise<void> {
  for (let i = 0; i < 5 && isMounted(target); i++) {
    const r = await run("umount", [target]);
    if (r.ok) continue;
    if (i === 4) {
      // Still busy after retries: detach it so that nothing is left in the mount table.
      const lazy = await run("umount", ["-l", target]);
      if (!lazy.ok) throw new InternalError(`cannot unmount ${target}: ${lazy.stderr}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 50 * (i + 1)));
  }
}
