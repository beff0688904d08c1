/**
 * The few libc calls the layer applier needs and Deno lacks: ownership and times of
 * symlinks themselves (lchown, utimensat with AT_SYMLINK_NOFOLLOW), device nodes and FIFOs
 * (mknod), and xattrs (lsetxattr). Loaded lazily, so importing this costs nothing.
 */
import { cString, errno, libc, strerror } from "./libc.ts";

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

export class SyscallError extends Error {
  constructor(readonly call: string, readonly path: string, readonly errno: number) {
    super(`${call} ${path}: ${describeErrno(errno)}`);
  }
}

function describeErrno(code: number): string {
  return `${strerror(code)} (errno ${code})`;
}

function check(rc: number, call: string, path: string): void {
  if (rc === 0) return;
  throw new SyscallError(call, path, errno());
}

export function lchown(path: string, uid: number, gid: number): void {
  check(libc().lchown(cString(path), uid >>> 0, gid >>> 0), "lchown", path);
}

/** Sets atime and mtime (seconds, fractions kept) without following a final symlink. */
export function lutimes(path: string, seconds: number): void {
  const sec = Math.floor(seconds);
  const nsec = Math.round((seconds - sec) * 1e9);
  const ts = new BigInt64Array([BigInt(sec), BigInt(nsec), BigInt(sec), BigInt(nsec)]);
  check(
    libc().utimensat(AT_FDCWD, cString(path), new Uint8Array(ts.buffer), AT_SYMLINK_NOFOLLOW),
    "utimensat",
    path,
  );
}

function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) |
    (mi & 0xffn);
}

export function mknod(path: string, typeBits: number, perm: number, major = 0, minor = 0): void {
  check(
    libc().mknod(cString(path), (typeBits | (perm & 0o7777)) >>> 0, makedev(major, minor)),
    "mknod",
    path,
  );
}

export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const v = new Uint8Array(value.length);
  v.set(value);
  check(
    libc().lsetxattr(cString(path), cString(name), v, BigInt(v.length), 0),
    `lsetxattr(${name})`,
    path,
  );
}

/** Reads an xattr without following a final symlink; null when it is not set. */
export function lgetxattr(path: string, name: string): Uint8Array | null {
  const buf = new Uint8Array(64 * 1024);
  const n = Number(libc().lgetxattr(cString(path), cString(name), buf, BigInt(buf.length)));
  if (n < 0) {
    const code = errno();
    if (code === 61) return null; // ENODATA
    throw new SyscallError(`lgetxattr(${name})`, path, code);
  }
  return buf.slice(0, n);
}
