/**
 * Skiff's layer applier: writes one layer's tar entries into a fresh, empty directory that
 * becomes an overlay lowerdir.
 *
 * Confinement: the applier remembers the kind of every path it made under the root, and
 * that record — not the filesystem — decides where a write may go. Every entry path is
 * cleaned; an absolute path or a `..` component is rejected; every ancestor must be a
 * directory this layer made (created on demand), so a write through a symlink (wherever it
 * points, including loops) is rejected; a hard link may only name a non-directory this layer
 * already holds. Final components are created with O_EXCL / mknod / symlink, none of which
 * follow a symlink. Since nothing but this applier writes into the root, no write can leave it.
 * A rejected layer throws `UnsafeLayerError` naming the entry; the caller removes the dir.
 *
 * Fidelity: owners (lchown), modes incl. setuid/setgid/sticky (chmod after chown, which
 * would clear them), mtimes of files, dirs (set last, deepest first) and symlinks, absolute
 * symlinks kept verbatim (they resolve inside the container), hard links, xattrs, devices
 * and FIFOs. OCI whiteouts become overlay whiteouts: `.wh.x` → 0/0 char device `x`;
 * `.wh..wh..opq` → `trusted.overlay.opaque=y` on the directory.
 */
import type { TarHeader, TarSink } from "./tar.ts";
import {
  lchown,
  lsetxattr,
  lutimes,
  mknod,
  S_IFBLK,
  S_IFCHR,
  S_IFIFO,
  SyscallError,
} from "../../linux/fs_syscalls.ts";

export class UnsafeLayerError extends Error {}

/** An entry path the filesystem cannot hold (a component over NAME_MAX, or over PATH_MAX). */
export class LayerPathTooLongError extends UnsafeLayerError {}

/** Linux limits: bytes per path component, and per path (NUL included). */
const NAME_MAX = 255;
const PATH_MAX = 4096;
const utf8 = new TextEncoder();

/** An entry path for a message: quoted, and cut short (a PAX path may be megabytes). */
export function quotePath(p: string): string {
  return JSON.stringify(p.length > 120 ? `${p.slice(0, 120)}…` : p);
}

export interface ApplyStats {
  entries: number;
  /** Sum of regular file sizes. */
  bytes: number;
  /** Filesystem objects created (incl. implicit parent dirs). */
  inodes: number;
}

type Kind = "dir" | "file" | "symlink" | "node";

const WHITEOUT_PREFIX = ".wh.";
const EPERM = 1;
const ENOTSUP = 95;
const OPAQUE = ".wh..wh..opq";
const OPAQUE_XATTR = "trusted.overlay.opaque";

export interface ApplierOptions {
  /** Skip lchown (tests as non-root); default false. */
  ignoreOwners?: boolean;
}

export class LayerApplier implements TarSink {
  private readonly kinds = new Map<string, Kind>([["", "dir"]]);
  private readonly dirTimes: { path: string; mtime: number }[] = [];
  private file?: { fd: Deno.FsFile; abs: string; h: TarHeader };
  readonly stats: ApplyStats = { entries: 0, bytes: 0, inodes: 0 };

  constructor(readonly root: string, private readonly opts: ApplierOptions = {}) {}

  /** The entry being applied (for messages when the filesystem refuses it). */
  current = "";

  entry(h: TarHeader): void {
    this.stats.entries++;
    this.current = h.path;
    const rel = this.clean(h.path, h.path);
    const slash = rel.lastIndexOf("/");
    const parent = slash < 0 ? "" : rel.slice(0, slash);
    const base = slash < 0 ? rel : rel.slice(slash + 1);
    if (base.startsWith(WHITEOUT_PREFIX)) return this.whiteout(h, parent, base);
    if (rel === "") return this.layerRoot(h);
    this.ensureDir(parent, h.path);
    const abs = this.abs(rel);
    switch (h.kind) {
      case "dir":
        return this.directory(h, rel, abs);
      case "file": {
        this.clear(rel, false);
        const fd = Deno.openSync(abs, { write: true, createNew: true, mode: 0o600 });
        this.kinds.set(rel, "file");
        this.stats.inodes++;
        this.stats.bytes += h.size;
        this.file = { fd, abs, h };
        return; // data() and entryEnd() follow
      }
      case "symlink": {
        this.clear(rel, false);
        Deno.symlinkSync(h.linkname, abs);
        this.kinds.set(rel, "symlink");
        this.stats.inodes++;
        this.owner(abs, h);
        this.xattrs(abs, h);
        lutimes(abs, h.mtime);
        return;
      }
      case "hardlink":
        return this.hardlink(h, rel, abs);
      case "char":
      case "block":
      case "fifo":
        return this.node(h, rel, abs);
      default:
        throw new UnsafeLayerError(
          `layer entry ${quotePath(h.path)} has unsupported tar type ${quotePath(h.typeflag)}`,
        );
    }
  }

  /** `.wh.<name>` hides a lower file (a 0/0 char device); `.wh..wh..opq` hides a dir's. */
  private whiteout(h: TarHeader, parent: string, base: string): void {
    this.ensureDir(parent, h.path);
    if (base === OPAQUE) {
      lsetxattr(this.abs(parent), OPAQUE_XATTR, new TextEncoder().encode("y"));
      return;
    }
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === "" || hidden === "." || hidden === "..") {
      throw new UnsafeLayerError(`layer entry ${quotePath(h.path)} is a malformed whiteout`);
    }
    const target = parent ? `${parent}/${hidden}` : hidden;
    this.clear(target, false);
    mknod(this.abs(target), S_IFCHR, 0, 0, 0);
    this.kinds.set(target, "node");
    this.stats.inodes++;
    this.owner(this.abs(target), h);
  }

  /** "./": the layer root's own metadata. */
  private layerRoot(h: TarHeader): void {
    if (h.kind !== "dir") {
      throw new UnsafeLayerError(`layer entry ${quotePath(h.path)} replaces the root`);
    }
    this.owner(this.root, h);
    Deno.chmodSync(this.root, h.mode);
    this.dirTimes.push({ path: this.root, mtime: h.mtime });
  }

  private directory(h: TarHeader, rel: string, abs: string): void {
    if (this.kinds.get(rel) !== "dir") {
      this.clear(rel, false);
      Deno.mkdirSync(abs, { mode: 0o700 });
      this.kinds.set(rel, "dir");
      this.stats.inodes++;
    }
    this.owner(abs, h);
    Deno.chmodSync(abs, h.mode);
    this.xattrs(abs, h);
    this.dirTimes.push({ path: abs, mtime: h.mtime });
  }

  /** A hard link only to a non-directory this layer itself contains. */
  private hardlink(h: TarHeader, rel: string, abs: string): void {
    const src = this.clean(h.linkname, h.path, "hard link target");
    const srcKind = this.kinds.get(src);
    if (srcKind === undefined) {
      throw new UnsafeLayerError(
        `layer entry ${quotePath(h.path)} is a hard link to ${
          quotePath(h.linkname)
        }, which this layer does not contain`,
      );
    }
    if (srcKind === "dir") {
      throw new UnsafeLayerError(
        `layer entry ${quotePath(h.path)} is a hard link to a directory`,
      );
    }
    if (src === rel) return;
    this.clear(rel, false);
    Deno.linkSync(this.abs(src), abs);
    this.kinds.set(rel, srcKind);
  }

  /** Character and block devices, FIFOs. */
  private node(h: TarHeader, rel: string, abs: string): void {
    this.clear(rel, false);
    const type = h.kind === "char" ? S_IFCHR : h.kind === "block" ? S_IFBLK : S_IFIFO;
    mknod(abs, type, h.mode, h.devmajor, h.devminor);
    this.kinds.set(rel, "node");
    this.stats.inodes++;
    this.owner(abs, h);
    Deno.chmodSync(abs, h.mode);
    this.xattrs(abs, h);
    lutimes(abs, h.mtime);
  }

  data(chunk: Uint8Array): void {
    const f = this.file;
    if (!f) return;
    let off = 0;
    while (off < chunk.length) off += f.fd.writeSync(chunk.subarray(off));
  }

  entryEnd(): void {
    const f = this.file;
    if (!f) return;
    this.file = undefined;
    f.fd.close();
    this.owner(f.abs, f.h);
    Deno.chmodSync(f.abs, f.h.mode);
    this.xattrs(f.abs, f.h);
    lutimes(f.abs, f.h.mtime);
  }

  /** Sets directory times, deepest first (writing into a dir changes its mtime). */
  finish(): ApplyStats {
    this.closeOpenFile();
    this.restoreDirTimes();
    return this.stats;
  }

  /**
   * Sets the directories' mtimes, deepest first (after everything inside them was written),
   * until done or `pauseAt` (a `performance.now()` time); true when done.
   */
  restoreDirTimes(pauseAt = Infinity): boolean {
    for (let d = this.dirTimes.pop(); d; d = this.dirTimes.pop()) {
      try {
        lutimes(d.path, d.mtime);
      } catch (e) {
        // a later entry of this layer replaced that directory
        if (!(e instanceof SyscallError && e.errno === 2)) throw e;
      }
      if (performance.now() >= pauseAt) return this.dirTimes.length === 0;
    }
    return true;
  }

  /** Closes a file left open by a failed stream (the caller then removes the root). */
  closeOpenFile(): void {
    if (this.file) {
      try {
        this.file.fd.close();
      } catch {
        // already closed
      }
      this.file = undefined;
    }
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  /** Cleans an archive path to a root-relative one, or rejects it. */
  private clean(path: string, entry: string, what = "path"): string {
    if (path.startsWith("/")) {
      throw new UnsafeLayerError(
        `layer entry ${quotePath(entry)}: absolute ${what} ${quotePath(path)} is not allowed`,
      );
    }
    const parts: string[] = [];
    for (const c of path.split("/")) {
      if (c === "" || c === ".") continue;
      if (c === "..") {
        throw new UnsafeLayerError(
          `layer entry ${quotePath(entry)}: ${what} ${quotePath(path)} contains ".."`,
        );
      }
      if (c.includes("\0")) {
        throw new UnsafeLayerError(`layer entry ${quotePath(entry)}: NUL in ${what}`);
      }
      if (utf8.encode(c).length > NAME_MAX) {
        throw new LayerPathTooLongError(
          `layer entry ${quotePath(entry)}: a component of its ${what} is longer than ` +
            `${NAME_MAX} bytes, which Linux file names cannot be`,
        );
      }
      parts.push(c);
    }
    const rel = parts.join("/");
    // Checked against the path the entry gets inside the container's root.
    if (utf8.encode(rel).length + 1 >= PATH_MAX) {
      throw new LayerPathTooLongError(
        `layer entry ${quotePath(entry)}: its ${what} is longer than Linux's ${PATH_MAX} bytes`,
      );
    }
    return rel;
  }

  /** Makes sure `rel` and its ancestors are directories this layer made (mkdir as needed). */
  private ensureDir(rel: string, entry: string): void {
    if (rel === "") return;
    const k = this.kinds.get(rel);
    if (k === "dir") return;
    if (k === "symlink") {
      throw new UnsafeLayerError(
        `layer entry ${quotePath(entry)} writes through the symlink ${quotePath(rel)}`,
      );
    }
    if (k !== undefined) {
      throw new UnsafeLayerError(
        `layer entry ${quotePath(entry)}: parent ${quotePath(rel)} is not a directory`,
      );
    }
    const slash = rel.lastIndexOf("/");
    this.ensureDir(slash < 0 ? "" : rel.slice(0, slash), entry);
    Deno.mkdirSync(this.abs(rel), { mode: 0o755 });
    Deno.chmodSync(this.abs(rel), 0o755);
    this.kinds.set(rel, "dir");
    this.stats.inodes++;
  }

  /** Removes what this layer already put at `rel` (a later entry replaces it). */
  private clear(rel: string, keepDir: boolean): void {
    const k = this.kinds.get(rel);
    if (k === undefined || (keepDir && k === "dir")) return;
    Deno.removeSync(this.abs(rel), { recursive: k === "dir" });
    if (k === "dir") {
      const prefix = rel + "/";
      for (const key of [...this.kinds.keys()]) if (key.startsWith(prefix)) this.kinds.delete(key);
    }
    this.kinds.delete(rel);
  }

  private owner(abs: string, h: TarHeader): void {
    if (this.opts.ignoreOwners) return;
    lchown(abs, h.uid, h.gid);
  }

  private xattrs(abs: string, h: TarHeader): void {
    for (const [name, value] of h.xattrs) {
      try {
        lsetxattr(abs, name, value);
      } catch (e) {
        // As containerd does: a filesystem without that xattr namespace (ENOTSUP), or a
        // user.* xattr on a symlink (EPERM: the kernel forbids it), is skipped, not fatal.
        const errno = e instanceof SyscallError ? e.errno : 0;
        if (errno === ENOTSUP || (errno === EPERM && h.kind === "symlink")) continue;
        throw e;
      }
    }
  }
}
