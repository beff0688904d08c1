/**
 * RLIMIT_NOFILE: every accepted connection is a descriptor, and running out of them must
 * not take Skiff down (Deno.serve stops and `accept` may panic on EMFILE). Skiff raises its
 * soft limit to the hard limit at start, as containerd and CRI-O do, and sizes its
 * per-listener connection caps knowing the result.
 */
import { errno, libc, strerror } from "./libc.ts";

const RLIMIT_NOFILE = 7;
const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

export interface FileLimit {
  soft: number;
  hard: number;
}

function toNumber(v: bigint): number {
  return v === RLIM_INFINITY ? Infinity : Number(v);
}

/** The current RLIMIT_NOFILE. */
export function fileLimit(): FileLimit {
  const buf = new BigUint64Array(2);
  if (libc().getrlimit(RLIMIT_NOFILE, buf) !== 0) {
    throw new Error(`getrlimit(RLIMIT_NOFILE): ${strerror(errno())}`);
  }
  return { soft: toNumber(buf[0]), hard: toNumber(buf[1]) };
}

/** Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force. */
export function raiseFileLimit(): FileLimit {
  const buf = new BigUint64Array(2);
  if (libc().getrlimit(RLIMIT_NOFILE, buf) !== 0) {
    throw new Error(`getrlimit(RLIMIT_NOFILE): ${strerror(errno())}`);
  }
  if (buf[0] < buf[1]) {
    buf[0] = buf[1];
    if (libc().setrlimit(RLIMIT_NOFILE, buf) !== 0) {
      throw new Error(`setrlimit(RLIMIT_NOFILE): ${strerror(errno())}`);
    }
  }
  return fileLimit();
}
