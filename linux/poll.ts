/**
 * poll(2) on one descriptor through the FFI thread pool, with a short timeout so that a
 * session can always be closed: callers loop, and a closed session stops looping.
 */
import { libc } from "./libc.ts";

export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
/** How long one poll waits; also how long a close must wait for in-flight polls. */
export const POLL_MS = 100;

/** The events that happened on `fd` (0 when none within POLL_MS). */
export async function pollFd(fd: number, events: number): Promise<number> {
  const pfd = new Uint8Array(new ArrayBuffer(8));
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, events, true);
  const n = await libc().poll(pfd, 1n, POLL_MS);
  return n > 0 ? dv.getInt16(6, true) : 0;
}
