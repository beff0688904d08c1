/**
 * Attach to a running container's stdio through its conmon.
 *
 * conmon serves a SOCK_SEQPACKET unix socket (`<bundle>/attach`), which neither
 * `Deno.connect` nor `node:net` can open, so this uses libc through FFI. Each packet conmon
 * sends is one byte naming the pipe (2 = stdout, 3 = stderr) followed by the data; what
 * the client writes is the container's stdin, and shutting down the write side tells conmon
 * that stdin ended (it then closes the container's stdin for `stdin_once` containers).
 * Terminal resizes go to conmon's control FIFO as `1 <height> <width>\n`.
 *
 * All blocking calls (`poll`, `read`, `send`) run off the main thread with short poll
 * timeouts, so a session can always be torn down.
 */
import { FailedPreconditionError } from "../core/errors.ts";
import type { CommandStreams, TerminalSize } from "./contracts.ts";
import type { ContainerForStreaming } from "./contracts.ts";
import { cString } from "../linux/cstring.ts";
import { libc } from "../linux/libc.ts";
import { POLL_MS, POLLERR, pollFd, POLLHUP, POLLIN, POLLOUT } from "../linux/poll.ts";

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const O_WRONLY = 0o1;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;
const O_DIRECTORY = 0o200000;
const SHUT_WR = 1;
const MSG_NOSIGNAL = 0x4000;
/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const SUN_PATH_MAX = 107;

/** conmon's pipe numbers on the attach socket. */
export const ATTACH_PIPE_STDOUT = 2;
export const ATTACH_PIPE_STDERR = 3;

function sockaddrUn(path: string): Uint8Array<ArrayBuffer> {
  const p = new TextEncoder().encode(path);
  const addr = new Uint8Array(new ArrayBuffer(2 + 108));
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(p, 2);
  return addr;
}

/** A connected SOCK_SEQPACKET socket. */
export class SeqPacketSocket {
  #fd: number;
  #closed = false;

  private constructor(fd: number) {
    this.#fd = fd;
  }

  /** Connects; paths too long for sockaddr_un go through /proc/self/fd of their dir. */
  static connect(path: string): SeqPacketSocket {
    const c = libc();
    const fd = c.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("cannot create a SOCK_SEQPACKET socket");
    let dirFd = -1;
    try {
      let target = path;
      if (new TextEncoder().encode(path).length > SUN_PATH_MAX) {
        const slash = path.lastIndexOf("/");
        dirFd = c.open(cString(path.slice(0, slash)), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirFd < 0) throw new Error(`cannot open the directory of ${path}`);
        target = `/proc/self/fd/${dirFd}/${path.slice(slash + 1)}`;
      }
      const addr = sockaddrUn(target);
      if (c.connect(fd, addr, addr.length) !== 0) {
        throw new Error(`cannot connect to the attach socket ${path}`);
      }
      return new SeqPacketSocket(fd);
    } catch (err) {
      c.close(fd);
      throw err;
    } finally {
      if (dirFd >= 0) c.close(dirFd);
    }
  }

  /** The next packet, or null at end (peer closed, or this socket was closed). */
  async receive(): Promise<Uint8Array | null> {
    const buf = new Uint8Array(new ArrayBuffer(64 * 1024));
    while (!this.#closed) {
      const rev = await pollFd(this.#fd, POLLIN);
      if (this.#closed) return null;
      if (rev & POLLIN) {
        const n = Number(await libc().read(this.#fd, buf, BigInt(buf.length)));
        if (n > 0) return buf.slice(0, n);
        if (n === 0) return null;
        if (rev & (POLLHUP | POLLERR)) return null;
        continue;
      }
      if (rev & (POLLHUP | POLLERR)) return null;
    }
    return null;
  }

  async send(data: Uint8Array): Promise<void> {
    // One packet per write; conmon reads up to 8 KiB at a time.
    for (let off = 0; off < data.length && !this.#closed;) {
      const part = new Uint8Array(new ArrayBuffer(Math.min(8192, data.length - off)));
      part.set(data.subarray(off, off + part.length));
      const n = Number(await libc().send(this.#fd, part, BigInt(part.length), MSG_NOSIGNAL));
      if (n > 0) {
        off += n;
        continue;
      }
      const rev = await pollFd(this.#fd, POLLOUT);
      if (rev & (POLLHUP | POLLERR)) throw new Error("attach socket closed");
    }
  }

  /** Tells the peer no more data follows (stdin ended). */
  closeWrite(): void {
    if (!this.#closed) libc().shutdown(this.#fd, SHUT_WR);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const fd = this.#fd;
    // Let in-flight polls (at most POLL_MS) return before the number can be reused.
    setTimeout(() => libc().close(fd), POLL_MS * 3);
  }
}

/** Writes a resize request to conmon's control FIFO; false when conmon is not there. */
export async function resizeViaCtlFifo(ctlFifoPath: string, size: TerminalSize): Promise<boolean> {
  const c = libc();
  // O_NONBLOCK: opening a FIFO for writing without a reader fails (ENXIO) instead of hanging.
  const fd = c.open(cString(ctlFifoPath), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  try {
    const msg = new TextEncoder().encode(`1 ${size.height} ${size.width}\n`);
    const buf = new Uint8Array(new ArrayBuffer(msg.length));
    buf.set(msg);
    return Number(await c.write(fd, buf, BigInt(buf.length))) === buf.length;
  } finally {
    c.close(fd);
  }
}

/**
 * Relays the container's stdio to `streams` until the container's output ends (it exited)
 * or `signal` aborts (the client left). Output for streams the client did not ask for is
 * dropped, as conmon sends everything to every attached client.
 */
export async function attachContainer(
  c: ContainerForStreaming,
  streams: CommandStreams,
  signal: AbortSignal,
): Promise<void> {
  if (c.state !== "CONTAINER_RUNNING") {
    throw new FailedPreconditionError(
      `container ${c.id} is not running (state ${c.state}); attach needs a running container`,
    );
  }
  if (streams.stdin && !c.stdin) {
    throw new FailedPreconditionError(
      `container ${c.id} was not created with stdin; attach without stdin`,
    );
  }
  let sock: SeqPacketSocket;
  try {
    sock = SeqPacketSocket.connect(c.attachSocketPath);
  } catch (err) {
    throw new FailedPreconditionError(
      `cannot attach to container ${c.id}: ${(err as Error).message} (is its conmon running?)`,
    );
  }
  const onAbort = () => sock.close();
  signal.addEventListener("abort", onAbort, { once: true });
  const stop = new AbortController();
  const stdout = streams.stdout?.getWriter();
  const stderr = streams.stderr?.getWriter();
  try {
    const input = streams.stdin?.pipeTo(
      new WritableStream({
        write: (chunk) => sock.send(chunk),
        close: () => sock.closeWrite(),
      }),
      { signal: stop.signal },
    ).catch(() => {});
    const resizing = streams.resize?.pipeTo(
      new WritableStream({ write: (size) => resizeViaCtlFifo(c.ctlFifoPath, size).then(() => {}) }),
      { signal: stop.signal },
    ).catch(() => {});
    for (;;) {
      const packet = await sock.receive();
      if (!packet) break;
      const w = packet[0] === ATTACH_PIPE_STDERR ? (stderr ?? null) : packet[0] ===
          ATTACH_PIPE_STDOUT
        ? (stdout ?? null)
        : null;
      if (w && packet.length > 1) {
        // Waiting on the client's socket here is the backpressure: conmon buffers no more.
        await w.write(packet.subarray(1));
      }
    }
    stop.abort();
    await Promise.all([input, resizing]);
  } finally {
    stop.abort();
    signal.removeEventListener("abort", onAbort);
    sock.close();
    for (const w of [stdout, stderr]) {
      if (!w) continue;
      await w.close().catch(() => {});
      w.releaseLock();
    }
  }
}
