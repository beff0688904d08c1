/**
 * Pseudo-terminals for TTY exec sessions, through libc FFI (Deno has no pty API).
 *
 * The master is non-blocking and only touched through `poll` + `read`/`write` calls that
 * run off the main thread (`nonblocking` FFI), with short poll timeouts so a session can
 * always be closed. Skiff holds the slave open itself until the process exits: a pty master
 * reports hang-up whenever no slave is open, including before the child opened it.
 */
import type { TerminalSize } from "../runtime/contracts.ts";
import { cString } from "./cstring.ts";
import { libc } from "./libc.ts";
import { POLL_MS, POLLERR, pollFd, POLLHUP, POLLIN, POLLOUT } from "./poll.ts";

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_SETFL = 4;
const TIOCSWINSZ = 0x5414;

export class Pty {
  readonly slavePath: string;
  #master: number;
  #slave: number;
  #closed = false;

  private constructor(master: number, slave: number, slavePath: string) {
    this.#master = master;
    this.#slave = slave;
    this.slavePath = slavePath;
  }

  static open(size?: TerminalSize): Pty {
    const c = libc();
    const master = c.posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) throw new Error("cannot open a pseudo-terminal (posix_openpt failed)");
    try {
      if (c.grantpt(master) !== 0 || c.unlockpt(master) !== 0) {
        throw new Error("cannot unlock the pseudo-terminal (grantpt/unlockpt failed)");
      }
      const name = new Uint8Array(new ArrayBuffer(128));
      if (c.ptsname_r(master, name, BigInt(name.length)) !== 0) {
        throw new Error("cannot name the pseudo-terminal's slave (ptsname_r failed)");
      }
      const slavePath = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
      c.fcntl(master, F_SETFL, O_RDWR | O_NONBLOCK);
      const slave = c.open(cString(slavePath), O_RDWR | O_NOCTTY | O_CLOEXEC);
      if (slave < 0) throw new Error(`cannot open the pseudo-terminal slave ${slavePath}`);
      const pty = new Pty(master, slave, slavePath);
      if (size) pty.resize(size);
      return pty;
    } catch (err) {
      c.close(master);
      throw err;
    }
  }

  resize(size: TerminalSize): void {
    if (this.#closed) return;
    const ws = new Uint16Array(new ArrayBuffer(8));
    ws[0] = size.height;
    ws[1] = size.width;
    libc().ioctl(this.#master, BigInt(TIOCSWINSZ), new Uint8Array(ws.buffer));
  }

  /** Drops Skiff's own hold on the slave: reads end once the child's copies close too. */
  releaseSlave(): void {
    if (this.#slave >= 0) {
      libc().close(this.#slave);
      this.#slave = -1;
    }
  }

  /**
   * Terminal output as a stream; ends when every slave is closed, or `quietEndMs` after
   * `stopSignal` with no output (a background process may hold the terminal forever).
   */
  output(stopSignal: AbortSignal, quietEndMs = 2000): ReadableStream<Uint8Array> {
    let quietSince = 0;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        for (;;) {
          if (this.#closed) return controller.close();
          const rev = await pollFd(this.#master, POLLIN);
          if (this.#closed) return controller.close();
          if (rev & POLLIN) {
            const buf = new Uint8Array(new ArrayBuffer(32 * 1024));
            const n = Number(await libc().read(this.#master, buf, BigInt(buf.length)));
            if (n > 0) {
              quietSince = 0;
              return controller.enqueue(buf.subarray(0, n));
            }
            if (rev & (POLLHUP | POLLERR)) return controller.close();
            continue;
          }
          if (rev & (POLLHUP | POLLERR)) return controller.close();
          if (stopSignal.aborted) {
            quietSince ||= Date.now();
            if (Date.now() - quietSince >= quietEndMs) return controller.close();
          }
        }
      },
    }, { highWaterMark: 0 });
  }

  /** Terminal input. */
  input(): WritableStream<Uint8Array> {
    return new WritableStream<Uint8Array>({
      write: async (chunk) => {
        let off = 0;
        while (off < chunk.length && !this.#closed) {
          const part = new Uint8Array(new ArrayBuffer(chunk.length - off));
          part.set(chunk.subarray(off));
          const n = Number(await libc().write(this.#master, part, BigInt(part.length)));
          if (n > 0) off += n;
          else {
            const rev = await pollFd(this.#master, POLLOUT);
            if (rev & (POLLHUP | POLLERR)) throw new Error("terminal closed");
          }
        }
      },
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.releaseSlave();
    // In-flight polls time out within POLL_MS; closing under them is harmless for poll
    // (it reports POLLNVAL), and reads only follow a poll that saw data.
    setTimeout(() => libc().close(this.#master), POLL_MS * 3);
  }
}
