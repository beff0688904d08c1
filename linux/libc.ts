/**
 * The one FFI binding of libc for all of Skiff: every symbol any module calls, loaded once
 * and lazily (importing this costs nothing until the first call). Calls marked
 * `nonblocking` run on Deno's FFI thread pool, so a blocking poll/read never holds the
 * event loop.
 */
import { cString } from "./cstring.ts";

const SYMBOLS = {
  // errors
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  // descriptors
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize", nonblocking: true },
  // sockets (conmon's SOCK_SEQPACKET attach socket)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize", nonblocking: true },
  // pseudo-terminals
  posix_openpt: { parameters: ["i32"], result: "i32" },
  grantpt: { parameters: ["i32"], result: "i32" },
  unlockpt: { parameters: ["i32"], result: "i32" },
  ptsname_r: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  // filesystem
  mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  // an overlay's unmount takes milliseconds: off the event loop (errno is the pool thread's)
  umount2_pooled: {
    name: "umount2",
    parameters: ["buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  lchown: { parameters: ["buffer", "u32", "u32"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  mknod: { parameters: ["buffer", "u32", "u64"], result: "i32" },
  lsetxattr: { parameters: ["buffer", "buffer", "buffer", "usize", "i32"], result: "i32" },
  lgetxattr: { parameters: ["buffer", "buffer", "buffer", "usize"], result: "isize" },
  // the new mount API through syscall(2) (glibc has no wrappers): idmapped mounts
  sys_open_tree: { name: "syscall", parameters: ["i64", "i32", "buffer", "u32"], result: "i64" },
  sys_mount_setattr: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "u32", "buffer", "usize"],
    result: "i64",
  },
  sys_move_mount: {
    name: "syscall",
    parameters: ["i64", "i32", "buffer", "i32", "buffer", "u32"],
    result: "i64",
  },
  // overlay built one option at a time (linux/overlay.ts): no one-page limit on lowerdirs
  sys_fsopen: { name: "syscall", parameters: ["i64", "buffer", "u32"], result: "i64" },
  sys_fsconfig: {
    name: "syscall",
    parameters: ["i64", "i32", "u32", "buffer", "buffer", "i32"],
    result: "i64",
  },
  sys_fsmount: { name: "syscall", parameters: ["i64", "i32", "u32", "u32"], result: "i64" },
  // a synchronous read(2) of an fs context's message log (short, never blocks)
  read_now: { name: "read", parameters: ["i32", "buffer", "usize"], result: "isize" },
  // resource limits
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  // memory
  malloc_trim: { parameters: ["usize"], result: "i32" },
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let symbols: Libc | null = null;

/** libc's symbols, opened on first use. */
export function libc(): Libc {
  symbols ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return symbols;
}

/** The calling thread's errno, read right after a failed call. */
export function errno(): number {
  const ptr = libc().__errno_location();
  return ptr ? new Deno.UnsafePointerView(ptr).getInt32() : 0;
}

/** strerror(3) of `code`. */
export function strerror(code: number): string {
  const msg = libc().strerror(code);
  return msg ? Deno.UnsafePointerView.getCString(msg) : `errno ${code}`;
}

/** errno and its text, read right after a failed call. */
export function lastError(): { errno: number; text: string } {
  const code = errno();
  return { errno: code, text: strerror(code) };
}

export { cString };
