/**
 * A small SPDY/3.1 server-side session: enough of the protocol for what kubelet's client
 * (moby/spdystream) does: the client opens streams with SYN_STREAM (headers only carry
 * `streamtype` and friends), the server answers each with SYN_REPLY, and both sides send
 * DATA frames and half-close with FIN.
 *
 * Flow control: spdystream never sends WINDOW_UPDATE, so send windows are not enforced
 * (a server that did would stall at 64 KiB). Backpressure comes from the socket instead:
 * writes wait for 'drain', and when a stream's reader falls behind the socket is paused.
 */
import type { Duplex } from "node:stream";
import { HeaderDeflater, HeaderInflater } from "./spdy_zlib.ts";

const VERSION = 3;
const FRAME_HEADER = 8;
/** Largest DATA frame Skiff sends; the spec allows 16 MiB, smaller frames interleave better. */
const MAX_DATA_FRAME = 32 * 1024;
/** Bytes buffered for a stream's reader before the whole socket is paused. */
const READ_HIGH_WATER = 256 * 1024;
/** A control frame larger than this is a protocol error (header blocks are tiny here). */
const MAX_CONTROL_FRAME = 1024 * 1024;

const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;
type FrameType = typeof FrameType[keyof typeof FrameType];

const FLAG_FIN = 0x01;

export const RstStatus = {
  ProtocolError: 1,
  InvalidStream: 2,
  RefusedStream: 3,
  Cancel: 5,
  InternalError: 6,
  StreamInUse: 8,
  StreamAlreadyClosed: 9,
} as const;

export type SpdyHeaders = Map<string, string>;

/** One SPDY stream opened by the peer. */
export interface SpdyStream {
  readonly id: number;
  /** Lower-cased header names; repeated values joined with NUL as SPDY does. */
  readonly headers: SpdyHeaders;
  /** Data the peer sends; ends at the peer's FIN, errors on RST_STREAM or connection loss. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Data to the peer; `close()` sends FIN. Writes wait for the socket to drain. */
  readonly writable: WritableStream<Uint8Array>;
  /** Aborts the stream with RST_STREAM (CANCEL unless given). */
  reset(status?: number): void;
}

export interface SpdySessionOptions {
  /** Called for each stream the peer opens, after SYN_REPLY was sent. */
  onStream(stream: SpdyStream): void;
  /** Called once when the connection is gone, for whatever reason. */
  onClose?(error?: Error): void;
}

interface StreamState {
  stream: SpdyStream;
  controller: ReadableStreamDefaultController<Uint8Array>;
  readClosed: boolean;
  writeClosed: boolean;
}

export function encodeHeaderBlock(headers: SpdyHeaders): Uint8Array {
  const te = new TextEncoder();
  const parts: Uint8Array[] = [];
  let size = 4;
  for (const [k, v] of headers) {
    const kb = te.encode(k.toLowerCase());
    const vb = te.encode(v);
    parts.push(kb, vb);
    size += 8 + kb.length + vb.length;
  }
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headers.size);
  let off = 4;
  for (const p of parts) {
    dv.setUint32(off, p.length);
    out.set(p, off + 4);
    off += 4 + p.length;
  }
  return out;
}

export function decodeHeaderBlock(block: Uint8Array): SpdyHeaders {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const td = new TextDecoder();
  const headers: SpdyHeaders = new Map();
  const need = (off: number, n: number) => {
    if (off + n > block.length) throw new Error("SPDY header block is truncated");
  };
  need(0, 4);
  const count = dv.getUint32(0);
  let off = 4;
  for (let i = 0; i < count; i++) {
    need(off, 4);
    const kl = dv.getUint32(off);
    need(off + 4, kl + 4);
    const k = td.decode(block.subarray(off + 4, off + 4 + kl));
    off += 4 + kl;
    const vl = dv.getUint32(off);
    need(off + 4, vl);
    const v = td.decode(block.subarray(off + 4, off + 4 + vl));
    off += 4 + vl;
    headers.set(k.toLowerCase(), v);
  }
  return headers;
}

function controlFrame(type: FrameType, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0x8000 | VERSION);
  dv.setUint16(2, type);
  dv.setUint32(4, (flags << 24) | payload.length);
  out.set(payload, FRAME_HEADER);
  return out;
}

function dataFrameHeader(streamId: number, flags: number, length: number): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, streamId & 0x7fffffff);
  dv.setUint32(4, (flags << 24) | length);
  return out;
}

export class SpdySession {
  readonly #socket: Duplex;
  readonly #opts: SpdySessionOptions;
  readonly #inflater = new HeaderInflater();
  readonly #deflater = new HeaderDeflater();
  readonly #streams = new Map<number, StreamState>();
  /** Streams whose reader is behind; the socket stays paused while any is. */
  readonly #slowReaders = new Set<number>();
  #buffered: Uint8Array = new Uint8Array(0);
  #lastPeerStream = 0;
  #closed = false;
  #drain: PromiseWithResolvers<void> | null = null;

  constructor(socket: Duplex, head: Uint8Array, opts: SpdySessionOptions) {
    this.#socket = socket;
    this.#opts = opts;
    socket.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    socket.on("drain", () => {
      this.#drain?.resolve();
      this.#drain = null;
    });
    socket.on("error", (err: Error) => this.#teardown(err));
    socket.on("close", () => this.#teardown());
    socket.on("end", () => {
      // The peer is done sending; what Skiff still has buffered for it is flushed.
      this.#teardown(undefined, false);
      socket.end();
    });
    if (head.length) queueMicrotask(() => this.#onData(head));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends GOAWAY and closes the connection once everything written has been flushed. */
  close(): void {
    if (this.#closed) return;
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(0, this.#lastPeerStream);
    this.#write(controlFrame(FrameType.GoAway, 0, payload));
    // end(), not destroy(): buffered frames (TLS encrypts asynchronously) must still go out.
    // A peer that never closes its side is cut off after a grace period.
    this.#socket.end();
    const socket = this.#socket;
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.once("close", () => clearTimeout(timer));
    this.#teardown(undefined, false);
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#socket.destroy();
    this.#teardown();
  }

  #teardown(err?: Error, destroySocket = true): void {
    if (this.#closed) return;
    this.#closed = true;
    const gone = err ?? new Error("SPDY connection closed");
    for (const s of this.#streams.values()) {
      if (!s.readClosed) {
        s.readClosed = true;
        try {
          s.controller.error(gone);
        } catch { /* already errored */ }
      }
      s.writeClosed = true;
    }
    this.#streams.clear();
    this.#drain?.resolve();
    this.#drain = null;
    if (destroySocket && !this.#socket.destroyed) this.#socket.destroy();
    this.#opts.onClose?.(err);
  }

  #write(bytes: Uint8Array): boolean {
    if (this.#closed) return true;
    return this.#socket.write(bytes);
  }

  async #waitDrain(): Promise<void> {
    if (this.#closed) return;
    this.#drain ??= Promise.withResolvers<void>();
    await this.#drain.promise;
  }

  #onData(chunk: Uint8Array): void {
    if (this.#closed) return;
    if (this.#buffered.length) {
      const joined = new Uint8Array(this.#buffered.length + chunk.length);
      joined.set(this.#buffered);
      joined.set(chunk, this.#buffered.length);
      this.#buffered = joined;
    } else {
      this.#buffered = chunk;
    }
    let off = 0;
    const buf = this.#buffered;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    try {
      while (buf.length - off >= FRAME_HEADER) {
        const first = dv.getUint32(off);
        const flagsLen = dv.getUint32(off + 4);
        const flags = flagsLen >>> 24;
        const length = flagsLen & 0xffffff;
        const isControl = (first & 0x80000000) !== 0;
        if (isControl && length > MAX_CONTROL_FRAME) {
          throw new Error(`SPDY control frame of ${length} bytes is too large`);
        }
        if (buf.length - off < FRAME_HEADER + length) break;
        const payload = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + length);
        off += FRAME_HEADER + length;
        if (isControl) {
          const version = (first >>> 16) & 0x7fff;
          if (version !== VERSION) throw new Error(`SPDY version ${version} is not supported`);
          this.#onControl(first & 0xffff, flags, payload);
        } else {
          this.#onDataFrame(first & 0x7fffffff, flags, payload);
        }
        if (this.#closed) return;
      }
    } catch (err) {
      this.#teardown(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.#buffered = off === buf.length ? new Uint8Array(0) : buf.slice(off);
  }

  #onControl(type: number, flags: number, payload: Uint8Array): void {
    const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    switch (type) {
      case FrameType.SynStream: {
        if (payload.length < 10) throw new Error("SPDY SYN_STREAM frame is truncated");
        const id = dv.getUint32(0) & 0x7fffffff;
        // Header blocks must always be inflated, even of refused streams, to keep the
        // connection's zlib context in step with the peer's.
        const headers = decodeHeaderBlock(this.#inflater.decompress(payload.subarray(10)));
        if (id === 0 || id % 2 === 0 || id <= this.#lastPeerStream) {
          this.#sendRst(id, RstStatus.ProtocolError);
          return;
        }
        this.#lastPeerStream = id;
        this.#openStream(id, headers, (flags & FLAG_FIN) !== 0);
        return;
      }
      case FrameType.RstStream: {
        const id = dv.getUint32(0) & 0x7fffffff;
        const s = this.#streams.get(id);
        if (!s) return;
        s.writeClosed = true;
        if (!s.readClosed) {
          s.readClosed = true;
          s.controller.error(new Error(`stream ${id} was reset by the peer`));
        }
        this.#forget(id);
        return;
      }
      case FrameType.Ping:
        // The peer's pings (odd IDs from a client) are echoed; ours are never sent.
        this.#write(controlFrame(FrameType.Ping, 0, payload.slice(0, 4)));
        return;
      case FrameType.GoAway:
        // The peer opens no more streams; the existing ones finish normally.
        return;
      case FrameType.Headers:
        this.#inflater.decompress(payload.subarray(4));
        return;
      case FrameType.SynReply:
        // Skiff opens no streams, so a reply is for nothing; keep zlib in step.
        this.#inflater.decompress(payload.subarray(4));
        return;
      case FrameType.Settings:
      case FrameType.WindowUpdate:
        // Send windows are deliberately not enforced (see the file comment).
        return;
      default:
        return;
    }
  }

  #onDataFrame(id: number, flags: number, payload: Uint8Array): void {
    const s = this.#streams.get(id);
    if (!s || s.readClosed) {
      if (!s) this.#sendRst(id, RstStatus.InvalidStream);
      return;
    }
    if (payload.length) {
      s.controller.enqueue(payload.slice());
      if ((s.controller.desiredSize ?? 1) <= 0) {
        this.#slowReaders.add(id);
        this.#socket.pause();
      }
    }
    if (flags & FLAG_FIN) {
      s.readClosed = true;
      s.controller.close();
      this.#forget(id);
    }
  }

  #sendRst(id: number, status: number): void {
    const payload = new Uint8Array(8);
    const dv = new DataView(payload.buffer);
    dv.setUint32(0, id & 0x7fffffff);
    dv.setUint32(4, status);
    this.#write(controlFrame(FrameType.RstStream, 0, payload));
  }

  #resumeFor(id: number): void {
    if (this.#slowReaders.delete(id) && this.#slowReaders.size === 0 && !this.#closed) {
      this.#socket.resume();
    }
  }

  #forget(id: number): void {
    const s = this.#streams.get(id);
    if (s && s.readClosed && s.writeClosed) {
      this.#streams.delete(id);
      this.#resumeFor(id);
    }
  }

  #openStream(id: number, headers: SpdyHeaders, finished: boolean): void {
    let state!: StreamState;
    const readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        state = {
          stream: undefined as unknown as SpdyStream,
          controller,
          readClosed: false,
          writeClosed: false,
        };
      },
      pull: () => {
        this.#resumeFor(id);
      },
      cancel: () => {
        state.readClosed = true;
        this.#resumeFor(id);
        this.#forget(id);
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: READ_HIGH_WATER }));

    const writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        for (let off = 0; off < chunk.length; off += MAX_DATA_FRAME) {
          if (this.#closed || state.writeClosed) {
            throw new Error(`SPDY stream ${id} is closed`);
          }
          const part = chunk.subarray(off, off + MAX_DATA_FRAME);
          this.#write(dataFrameHeader(id, 0, part.length));
          if (!this.#write(part)) await this.#waitDrain();
        }
      },
      close: () => {
        if (this.#closed || state.writeClosed) return;
        state.writeClosed = true;
        this.#write(dataFrameHeader(id, FLAG_FIN, 0));
        this.#forget(id);
      },
      abort: () => {
        if (this.#closed || state.writeClosed) return;
        state.writeClosed = true;
        this.#sendRst(id, RstStatus.Cancel);
        if (!state.readClosed) {
          state.readClosed = true;
          state.controller.error(new Error(`stream ${id} was cancelled`));
        }
        this.#forget(id);
      },
    });

    const stream: SpdyStream = {
      id,
      headers,
      readable,
      writable,
      reset: (status: number = RstStatus.Cancel) => {
        if (this.#closed) return;
        this.#sendRst(id, status);
        state.writeClosed = true;
        if (!state.readClosed) {
          state.readClosed = true;
          state.controller.error(new Error(`stream ${id} was reset`));
        }
        this.#forget(id);
      },
    };
    state.stream = stream;
    this.#streams.set(id, state);

    // SYN_REPLY with an empty header block: what spdystream's client waits for.
    const block = this.#deflater.compress(encodeHeaderBlock(new Map()));
    const payload = new Uint8Array(4 + block.length);
    new DataView(payload.buffer).setUint32(0, id);
    payload.set(block, 4);
    this.#write(controlFrame(FrameType.SynReply, 0, payload));

    if (finished) {
      state.readClosed = true;
      state.controller.close();
    }
    this.#opts.onStream(stream);
  }
}
