/**
 * The one overlay mount builder. mount(2) copies at most one page (4096 bytes) of options,
 * so `lowerdir=a:b:c…` with absolute layer paths holds ~38 layers under /var/lib/skiff. The
 * new mount API has no such limit: `fsopen("overlay")`, one `fsconfig(FSCONFIG_SET_STRING,
 * "lowerdir+", path)` per layer (Linux ≥ 6.8), `FSCONFIG_CMD_CREATE`, `fsmount`, then
 * `move_mount` onto the target; overlayfs's own limit (500 lowers) is then the only one.
 * `lowerdir+` appends in the order of `lowerdir=`: the first one given is the topmost.
 *
 * Kernels without `lowerdir+` (probed once: fsconfig says EINVAL) get legacy mount(2) when
 * the options fit in its page, and a FailedPreconditionError naming the limit when not.
 * Every descriptor opened here is closed on every path.
 */
import { FailedPreconditionError, InternalError } from "../core/errors.ts";
import { cString, lastError, libc } from "./libc.ts";
import { mountSync } from "./mounts.ts";

/** overlayfs refuses more lower layers than this (OVL_MAX_STACK). */
export const OVERLAY_MAX_LOWER = 500;
/** mount(2) copies one page of options, NUL included. */
export const MOUNT_OPTIONS_MAX = 4096;
/** fsconfig(FSCONFIG_SET_STRING) copies at most 256 bytes of value, NUL included. */
export const FSCONFIG_STRING_MAX = 256;

// Syscall numbers: the same on every architecture (the unified table from 5.x on).
const SYS_MOVE_MOUNT = 429n;
const SYS_FSOPEN = 430n;
const SYS_FSCONFIG = 431n;
const SYS_FSMOUNT = 432n;

const FSOPEN_CLOEXEC = 1;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;
const FSMOUNT_CLOEXEC = 1;
const MOUNT_ATTR_RDONLY = 1;
const AT_FDCWD = -100;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MS_RDONLY = 1;

/** What one overlay mount stacks. */
export interface OverlayLayers {
  /** Lower (read-only) dirs, topmost first: overlayfs's own order. */
  lowerTopFirst: string[];
  /** Upper and work dirs; both or neither (a read-only overlay needs two lowers). */
  upper?: string;
  work?: string;
  readOnly?: boolean;
}

let lowerdirPlus: boolean | null = null;

const EINVAL = 22;
/** fsopen failures that say nothing about the kernel: tried again on the next call. */
const TRANSIENT = new Set([12, /* ENOMEM */ 23, /* ENFILE */ 24 /* EMFILE */]);

/**
 * Whether this kernel's overlayfs takes `lowerdir+` through fsconfig (Linux ≥ 6.8), probed
 * once per process with an fs context that is never created (nothing is mounted). Older
 * kernels answer EINVAL ("Unknown parameter"); no new mount API or no overlay means no.
 */
export function overlayLowerdirPlus(): boolean {
  if (lowerdirPlus !== null) return lowerdirPlus;
  const c = libc();
  const fs = Number(c.sys_fsopen(SYS_FSOPEN, cString("overlay"), FSOPEN_CLOEXEC));
  if (fs < 0) {
    if (TRANSIENT.has(lastError().errno)) return false;
    return lowerdirPlus = false;
  }
  try {
    const r = c.sys_fsconfig(
      SYS_FSCONFIG,
      fs,
      FSCONFIG_SET_STRING,
      cString("lowerdir+"),
      cString("/"),
      0,
    );
    return lowerdirPlus = r === 0n || lastError().errno !== EINVAL;
  } finally {
    c.close(fs);
  }
}

/** The legacy mount(2) option string for `layers`. */
export function legacyOverlayOptions(layers: OverlayLayers): string {
  let opts = `lowerdir=${layers.lowerTopFirst.join(":")}`;
  if (layers.upper) opts += `,upperdir=${layers.upper},workdir=${layers.work}`;
  return opts;
}

/** Why `layers` cannot be given to fsconfig one string at a time, or null when they can. */
function fsconfigObstacle(layers: OverlayLayers): string | null {
  if (!overlayLowerdirPlus()) return "this kernel's overlayfs lacks lowerdir+ (Linux ≥ 6.8)";
  const paths = [...layers.lowerTopFirst, layers.upper ?? "", layers.work ?? ""];
  if (paths.some((p) => new TextEncoder().encode(p).length >= FSCONFIG_STRING_MAX)) {
    return `a layer path is longer than fsconfig takes (${FSCONFIG_STRING_MAX - 1} bytes)`;
  }
  return null;
}

/**
 * Mounts an overlay of `layers` at `target` (an existing dir). Throws FailedPreconditionError
 * when this node cannot stack that many layers, InternalError with the kernel's reason else.
 */
export function mountOverlaySync(target: string, layers: OverlayLayers): void {
  const n = layers.lowerTopFirst.length;
  if (n === 0) throw new InternalError("an overlay needs at least one lower layer");
  if (n > OVERLAY_MAX_LOWER) {
    throw new FailedPreconditionError(
      `${n} layers: overlayfs stacks at most ${OVERLAY_MAX_LOWER} lower layers`,
    );
  }
  if (!!layers.upper !== !!layers.work) {
    throw new InternalError("an overlay needs both an upper and a work dir, or neither");
  }
  const obstacle = fsconfigObstacle(layers);
  if (obstacle === null) return mountWithFsconfig(target, layers);
  const opts = legacyOverlayOptions(layers);
  if (new TextEncoder().encode(opts).length + 1 > MOUNT_OPTIONS_MAX) {
    throw new FailedPreconditionError(
      `${n} layers do not fit in one mount(2) option page (${MOUNT_OPTIONS_MAX} bytes) and ` +
        `${obstacle}`,
    );
  }
  mountSync("overlay", target, "overlay", opts, layers.readOnly ? MS_RDONLY : 0);
}

/** The kernel's messages on an fs context (`e overlay: …` lines), best effort. */
function contextLog(fs: number): string {
  const c = libc();
  const lines: string[] = [];
  const buf = new Uint8Array(1024);
  for (let i = 0; i < 16; i++) {
    const n = Number(c.read_now(fs, buf, BigInt(buf.length)));
    if (n <= 0) break;
    lines.push(new TextDecoder().decode(buf.subarray(0, n)));
  }
  return lines.join("; ");
}

function fsconfigFailure(fs: number, what: string): InternalError {
  const e = lastError();
  const log = contextLog(fs);
  return new InternalError(`overlay ${what}: ${e.text}${log ? ` (${log})` : ""}`);
}

/** fsopen → fsconfig per option → create → fsmount → move_mount; fds closed on every path. */
function mountWithFsconfig(target: string, layers: OverlayLayers): void {
  const c = libc();
  const fs = Number(c.sys_fsopen(SYS_FSOPEN, cString("overlay"), FSOPEN_CLOEXEC));
  if (fs < 0) throw new InternalError(`fsopen overlay: ${lastError().text}`);
  let mnt = -1;
  try {
    const set = (key: string, value: string, what: string) => {
      const r = c.sys_fsconfig(
        SYS_FSCONFIG,
        fs,
        FSCONFIG_SET_STRING,
        cString(key),
        cString(value),
        0,
      );
      if (r !== 0n) throw fsconfigFailure(fs, what);
    };
    set("source", "overlay", "source");
    for (const [i, dir] of layers.lowerTopFirst.entries()) {
      set("lowerdir+", dir, `lower layer ${i} (from the top)`);
    }
    if (layers.upper && layers.work) {
      set("upperdir", layers.upper, "upper dir");
      set("workdir", layers.work, "work dir");
    }
    if (c.sys_fsconfig(SYS_FSCONFIG, fs, FSCONFIG_CMD_CREATE, null, null, 0) !== 0n) {
      throw fsconfigFailure(fs, `create on ${target}`);
    }
    const attrs = layers.readOnly ? MOUNT_ATTR_RDONLY : 0;
    mnt = Number(c.sys_fsmount(SYS_FSMOUNT, fs, FSMOUNT_CLOEXEC, attrs));
    if (mnt < 0) throw new InternalError(`fsmount overlay: ${lastError().text}`);
    const moved = c.sys_move_mount(
      SYS_MOVE_MOUNT,
      mnt,
      cString(""),
      AT_FDCWD,
      cString(target),
      MOVE_MOUNT_F_EMPTY_PATH,
    );
    if (moved !== 0n) {
      throw new InternalError(`move_mount overlay to ${target}: ${lastError().text}`);
    }
  } finally {
    // A detached mount that was never moved is freed with its last fd.
    if (mnt >= 0) c.close(mnt);
    c.close(fs);
  }
}

/** Test hook: forget the probe (so a test can force the legacy path). */
export function setOverlayLowerdirPlusForTest(value: boolean | null): void {
  lowerdirPlus = value;
}
