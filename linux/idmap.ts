/**
 * Idmapped mounts (kernel ≥ 5.12; overlay over idmapped layers ≥ 5.19; tmpfs ≥ 6.3) made
 * with the new mount API through FFI: `open_tree(OPEN_TREE_CLONE)` clones a tree as a
 * detached mount, `mount_setattr(MOUNT_ATTR_IDMAP)` gives it a user namespace's mapping,
 * `move_mount` attaches it at a target. Debian 12's runc 1.1.5 cannot make idmapped mounts
 * itself, so Skiff prepares them and hands runc the result as an ordinary bind source.
 *
 * Through such a mount, a file owned by `u` on disk shows as owned by the user namespace's
 * mapping of `u` (with `0 1000 100000`: disk 0 → host 1000, which is 0 inside the pod), and a
 * file written by host uid 1000 lands on disk as 0. These calls touch only Skiff's own mount
 * namespace (mounts are not per-thread), so they are safe from a multi-threaded process.
 */
import { InternalError } from "../core/errors.ts";
import { cString, lastError, libc } from "./libc.ts";

// Syscall numbers: the same on every architecture (the unified table from 5.x on).
const SYS_OPEN_TREE = 428n;
const SYS_MOVE_MOUNT = 429n;
const SYS_MOUNT_SETATTR = 442n;

const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const AT_RECURSIVE = 0x8000;
const OPEN_TREE_CLONE = 1;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOUNT_ATTR_IDMAP = 0x00100000n;

function fail(what: string, path: string): never {
  const e = lastError();
  throw new InternalError(`${what} ${path}: ${e.text}`);
}

/** A descriptor of a user namespace file (a pinned one, or /proc/PID/ns/user). */
function openUserns(usernsPath: string): number {
  const fd = libc().open(cString(usernsPath), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open user namespace", usernsPath);
  return fd;
}

/**
 * Mounts an idmapped clone of `source` (a directory or a file) at `target`, which is
 * created to match. `recursive` clones submounts too (each must support idmapping).
 * Throws InternalError with the kernel's reason (EINVAL: the filesystem cannot be idmapped).
 */
export async function mountIdmapped(
  source: string,
  target: string,
  usernsPath: string,
  recursive = false,
): Promise<void> {
  const info = await Deno.stat(source);
  if (info.isDirectory) await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  else {
    await Deno.mkdir(target.slice(0, target.lastIndexOf("/")) || "/", { recursive: true });
    await Deno.writeFile(target, new Uint8Array(), { mode: 0o644 });
  }
  mountIdmappedSync(source, target, usernsPath, recursive);
}

/** The synchronous core of `mountIdmapped`; `target` must exist. */
export function mountIdmappedSync(
  source: string,
  target: string,
  usernsPath: string,
  recursive = false,
): void {
  const c = libc();
  const userns = openUserns(usernsPath);
  let tree = -1;
  try {
    const rec = recursive ? AT_RECURSIVE : 0;
    tree = Number(
      c.sys_open_tree(SYS_OPEN_TREE, AT_FDCWD, cString(source), OPEN_TREE_CLONE | O_CLOEXEC | rec),
    );
    if (tree < 0) fail("open_tree", source);
    // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd; }
    const attr = new BigUint64Array(4);
    attr[0] = MOUNT_ATTR_IDMAP;
    attr[3] = BigInt(userns);
    const attrBytes = new Uint8Array(attr.buffer);
    const empty = cString("");
    if (
      c.sys_mount_setattr(SYS_MOUNT_SETATTR, tree, empty, AT_EMPTY_PATH | rec, attrBytes, 32n) < 0
    ) {
      fail("cannot idmap a mount of", source);
    }
    if (
      c.sys_move_mount(
        SYS_MOVE_MOUNT,
        tree,
        empty,
        AT_FDCWD,
        cString(target),
        MOVE_MOUNT_F_EMPTY_PATH,
      ) < 0
    ) {
      fail("move_mount to", target);
    }
  } finally {
    if (tree >= 0) c.close(tree);
    c.close(userns);
  }
}

/** Whether a mountinfo line for `path` carries the `idmapped` option (kernel ≥ 5.12). */
export function isIdmappedIn(mountinfo: string, path: string): boolean {
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    if (f[4]?.replace(/\\040/g, " ") === path && f[5]?.split(",").includes("idmapped")) {
      return true;
    }
  }
  return false;
}
