/**
 * Mounts and unmounts through libc (FFI): mount(2) and umount2(2) cost microseconds where
 * spawning util-linux mount/umount cost milliseconds on every container create and remove.
 * Only this process's own mount namespace is touched (FFI never enters another one).
 */
import { InternalError } from "../core/errors.ts";
import { cString, lastError, libc } from "./libc.ts";

export const MNT_DETACH = 2;

/** mount(2); throws InternalError with the OS's reason. */
export function mountSync(
  source: string,
  target: string,
  fstype: string,
  data: string,
  flags = 0,
): void {
  if (
    libc().mount(
      cString(source),
      cString(target),
      cString(fstype),
      BigInt(flags),
      cString(data),
    ) !== 0
  ) {
    const e = lastError();
    throw new InternalError(`mount ${fstype} on ${target} (${data}): ${e.text}`);
  }
}

/** umount2(2); returns the errno (0 on success) so callers can retry a busy mount. */
export function umountSync(target: string, flags = 0): { errno: number; text: string } {
  if (libc().umount2(cString(target), flags) === 0) return { errno: 0, text: "" };
  return lastError();
}

/**
 * umount2(2) on Deno's FFI thread pool, for work that must not hold the event loop (an
 * overlay's unmount takes 1-4 ms). Whether it succeeded: errno is set on the pool's thread,
 * so callers look at the mount table again rather than at a reason.
 */
export async function umountPooled(target: string, flags = 0): Promise<boolean> {
  const path = cString(target);
  const rc = await libc().umount2_pooled(path, flags);
  // The pool thread reads `path` until the call returns: keep it reachable until then.
  return rc === 0 && path.length > 0;
}

/** Mount points at or under `dir` in this process's mountinfo, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await Deno.readTextFile("/proc/self/mountinfo");
  const out: string[] = [];
  for (const line of info.split("\n")) {
    const target = line.split(" ")[4]?.replace(/\\040/g, " ");
    if (target && (target === dir || target.startsWith(dir + "/"))) out.push(target);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Whether `path` is a mount point (listed in this process's mountinfo). */
export function isMountedSync(path: string): boolean {
  const info = Deno.readTextFileSync("/proc/self/mountinfo");
  for (const line of info.split("\n")) {
    const target = line.split(" ")[4];
    if (target && target.replace(/\\040/g, " ") === path) return true;
  }
  return false;
}

/** Whether `path` is a mount point, from /proc/self/mountinfo. */
export async function isMounted(path: string): Promise<boolean> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").some((l) => l.split(" ")[4]?.replace(/\\040/g, " ") === path);
}

/** Mounts a tmpfs at `target` (created if missing); `options` as mount(8) takes them. */
export async function mountTmpfs(target: string, options: string): Promise<void> {
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  const { flags, data } = splitMountOptions(options);
  mountSync("shm", target, "tmpfs", data, flags);
}

/** The flag words mount(8) turns into mount(2) flags; the kernel's tmpfs refuses them as data. */
const FLAG_WORDS: Record<string, number> = { ro: 1, nosuid: 2, nodev: 4, noexec: 8 };

export function splitMountOptions(options: string): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options.split(",").filter(Boolean)) {
    if (o in FLAG_WORDS) flags |= FLAG_WORDS[o];
    else data.push(o);
  }
  return { flags, data: data.join(",") };
}

/** Unmounts every mount stacked on `target`; a path that is not mounted is fine. */
export async function unmountAll(target: string): Promise<void> {
  for (let i = 0; i < 8 && await isMounted(target); i++) {
    const r = umountSync(target);
    if (r.errno !== 0) {
      const lazy = umountSync(target, MNT_DETACH);
      if (lazy.errno !== 0) throw new InternalError(`umount ${target} failed: ${r.text}`);
    }
  }
}

export type MountPropagation = "shared" | "slave" | "private";

/**
 * Propagation of the mount that holds `path` in a mountinfo text: the longest mount point
 * that is `path` or one of its parents decides.
 */
export function propagationIn(mountinfo: string, path: string): MountPropagation {
  let best = "";
  let prop: MountPropagation = "private";
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const target = f[4]?.replace(/\\040/g, " ");
    if (!target) continue;
    if (!(path === target || path.startsWith(target === "/" ? "/" : target + "/"))) continue;
    if (target.length < best.length) continue;
    best = target;
    const opt = f.slice(6, f.indexOf("-")).join(" ");
    prop = /shared:/.test(opt) ? "shared" : /master:/.test(opt) ? "slave" : "private";
  }
  return prop;
}

/** Propagation of the mount that holds `path`, from this process's mountinfo. */
export function mountPropagation(path: string): MountPropagation {
  let real = path;
  try {
    real = Deno.realPathSync(path);
  } catch { /* not there yet */ }
  return propagationIn(Deno.readTextFileSync("/proc/self/mountinfo"), real);
}
