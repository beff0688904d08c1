/**
 * One client's connection on the CRI socket: Deno's own unix socket (no node:net stream
 * layers: each read and reply used to pass through Readable/Writable, ~60 µs of a status
 * call's ~300 µs on the server), its bytes into an Http2ServerConnection and the replies out.
 */
import { concatBytes } from "../core/bytes.ts";
import type { Http2ServerConnection, Transport } from "./http2/connection.ts";

const READ_BUFFER_BYTES = 64 * 1024;
/**
 * An ended connection is half-closed once its replies are out and read (and discarded) until
 * the client closes or this long has passed: closed at once with the client's bytes still
 * unread, the client may see a reset before it reads the last frames (a GOAWAY's reason).
 */
const END_GRACE_MS = 1000;

export interface SocketConnectionOptions {
  /** Bytes written but not yet taken by the client; past it the connection is dropped. */
  maxUnreadBytes: number;
  /** The connection must have sent its HTTP/2 preface and SETTINGS within this time. */
  prefaceTimeoutMs: number;
  onClose: (conn: SocketConnection) => void;
}

export class SocketConnection implements Transport {
  #http2?: Http2ServerConnection;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing = false;
  #ending = false;
  #closed = false;
  readonly #preface: ReturnType<typeof setTimeout>;
  #endTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly conn: Deno.UnixConn, private readonly opts: SocketConnectionOptions) {
    this.#preface = setTimeout(() => {
      if (!this.#http2?.prefaceComplete) this.destroy();
    }, opts.prefaceTimeoutMs);
  }

  /** Starts reading into `http2` (built with this connection as its transport). */
  serve(http2: Http2ServerConnection): void {
    this.#http2 = http2;
    this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      for (;;) {
        const n = await this.conn.read(buffer);
        if (n === null || this.#closed) break;
        // The frame reader copies what it keeps, so one buffer serves every read.
        this.#http2!.receive(buffer.subarray(0, n));
      }
    } catch {
      // Reset by the client, or closed here: either way the connection is over.
    }
    this.destroy();
  }

  write(bytes: Uint8Array): void {
    if (this.#closed || this.#ending) return;
    // A peer that grants windows but never reads would make the queue grow without bound.
    if (this.#queued + bytes.length > this.opts.maxUnreadBytes) return this.destroy();
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (!this.#writing) this.#pump();
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = concatBytes(this.#queue.splice(0));
        for (let at = 0; at < chunk.length;) {
          at += await this.conn.write(at === 0 ? chunk : chunk.subarray(at));
        }
        this.#queued -= chunk.length;
      }
    } catch {
      return this.destroy();
    } finally {
      this.#writing = false;
    }
    if (this.#ending) this.#halfClose();
  }

  /** Ends the connection once what was written is out (see END_GRACE_MS). */
  close(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    this.#endTimer = setTimeout(() => this.destroy(), END_GRACE_MS);
    if (!this.#writing) this.#halfClose();
  }

  #halfClose(): void {
    this.conn.closeWrite().catch(() => this.destroy());
  }

  /** Closes the socket now; open streams are aborted. */
  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#preface);
    clearTimeout(this.#endTimer);
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
    this.#http2?.transportClosed();
    this.opts.onClose(this);
  }
}
