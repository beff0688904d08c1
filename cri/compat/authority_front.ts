/**
 * The `:authority` compatibility front for kubelet and crictl older than 1.30.
 *
 * Those clients send the unix socket path (e.g. `/run/skiff/skiff.sock`) as the HTTP/2
 * `:authority`, which the HTTP/2 server under grpc-js (nghttp2 in Node/Deno) rejects with
 * PROTOCOL_ERROR because `/` is not allowed in an authority. The front owns the public
 * socket, and for each connection:
 *
 * - client → server: checks the connection preface, splits the byte stream into frames,
 *   decodes every header block (HEADERS + CONTINUATION) with an HPACK decoder that mirrors
 *   the client's dynamic table. Until a block needs a rewrite, blocks are forwarded as the
 *   client sent them (byte for byte: the server's table then mirrors the client's too), so a
 *   client that sends a valid `:authority` costs a decode and nothing else. From the first
 *   `:authority` that is not a host[:port] on, every block is re-encoded with that value
 *   replaced by `localhost`, in literal-without-indexing representations (so the server
 *   never needs an entry the client added afterwards). Every other frame passes byte for
 *   byte, but for the client's GOAWAY (see push());
 * - server → client: bytes pass through untouched.
 *
 * The gRPC server listens on an internal socket (mode 0600) that only the front dials.
 */
import net from "node:net";
import { ListenerWatchdog } from "../../core/connection_guard.ts";
import type { Logger } from "../../core/log.ts";
import { encodeWithoutIndexing, type HeaderField, HpackDecoder } from "./hpack.ts";

export const HTTP2_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const FRAME_HEADER_LENGTH = 9;
const FRAME_HEADERS = 0x1;
const FRAME_PUSH_PROMISE = 0x5;
const FRAME_GOAWAY = 0x7;
const FRAME_CONTINUATION = 0x9;
const FLAG_END_STREAM = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** The smallest SETTINGS_MAX_FRAME_SIZE a peer may advertise: always safe to send. */
const SAFE_FRAME_PAYLOAD = 16384;
/** A header block larger than this is refused (grpc-js's own limit is far below). */
const MAX_HEADER_BLOCK = 1 << 20;
/** Frames larger than this are a protocol violation for any server Skiff runs. */
const MAX_FRAME_PAYLOAD = (1 << 24) - 1;

/** What an `:authority` may hold: nghttp2's allowed set (RFC 3986 host[:port] chars). */
const VALID_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%[\]]+$/;
export const REPLACEMENT_AUTHORITY = "localhost";

export function needsRewrite(authority: string): boolean {
  return !VALID_AUTHORITY.test(authority);
}

/** A violation of HTTP/2 framing by the client: the connection is closed. */
export class FrameError extends Error {
  constructor(message: string) {
    super(`HTTP/2: ${message}`);
    this.name = "FrameError";
  }
}

function frameHeader(length: number, type: number, flags: number, streamId: number): Uint8Array {
  const h = new Uint8Array(FRAME_HEADER_LENGTH);
  h[0] = (length >>> 16) & 0xff;
  h[1] = (length >>> 8) & 0xff;
  h[2] = length & 0xff;
  h[3] = type;
  h[4] = flags;
  new DataView(h.buffer).setUint32(5, streamId & 0x7fffffff);
  return h;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A header block being collected from a HEADERS frame and its CONTINUATIONs. */
interface PendingBlock {
  streamId: number;
  /** HEADERS flags other than PADDED/END_HEADERS, kept for the rewritten frame. */
  flags: number;
  /** The 5 priority octets when the HEADERS frame had PRIORITY set. */
  priority: Uint8Array | null;
  fragments: Uint8Array[];
  length: number;
  /** The block's frames as received (HEADERS + CONTINUATIONs), forwarded when unchanged. */
  raw: Uint8Array[];
}

/**
 * The client → server half of one connection, as a pure transform: feed it the bytes the
 * client sent, get back the bytes to send to the server. Kept free of I/O so that it can be
 * unit-tested frame by frame.
 */
export class RequestRewriter {
  private readonly decoder = new HpackDecoder();
  private buffer: Uint8Array = new Uint8Array(0);
  private prefaceSeen = false;
  private pending: PendingBlock | null = null;
  /** Set by the first rewrite: from then on every header block is re-encoded. */
  private reencoding = false;
  /** How many `:authority` values were replaced on this connection. */
  rewrites = 0;
  /** Client GOAWAY frames held back from the server (see push()). */
  goawaysDropped = 0;

  /** `onRewrite` hears of every replaced `:authority` value. */
  constructor(private readonly onRewrite?: (from: string) => void) {}

  /** Returns the bytes to forward (possibly empty while a frame is incomplete). */
  push(chunk: Uint8Array): Uint8Array {
    this.buffer = this.buffer.length === 0 ? chunk : concat([this.buffer, chunk]);
    const out: Uint8Array[] = [];
    let pos = 0;
    const buf = this.buffer;
    if (!this.prefaceSeen) {
      const n = Math.min(buf.length, HTTP2_PREFACE.length);
      for (let i = 0; i < n; i++) {
        if (buf[i] !== HTTP2_PREFACE[i]) {
          throw new FrameError("the client did not send the HTTP/2 connection preface");
        }
      }
      if (buf.length < HTTP2_PREFACE.length) return new Uint8Array(0);
      out.push(buf.subarray(0, HTTP2_PREFACE.length));
      pos = HTTP2_PREFACE.length;
      this.prefaceSeen = true;
    }
    // Consecutive pass-through frames are forwarded as one slice of the input.
    let passStart = pos;
    while (buf.length - pos >= FRAME_HEADER_LENGTH) {
      const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
      if (length > MAX_FRAME_PAYLOAD) throw new FrameError(`frame of ${length} bytes`);
      if (buf.length - pos - FRAME_HEADER_LENGTH < length) break;
      const type = buf[pos + 3];
      const flags = buf[pos + 4];
      const streamId = new DataView(buf.buffer, buf.byteOffset + pos + 5, 4).getUint32(0) &
        0x7fffffff;
      const payload = buf.subarray(pos + FRAME_HEADER_LENGTH, pos + FRAME_HEADER_LENGTH + length);
      const frameEnd = pos + FRAME_HEADER_LENGTH + length;
      if (this.pending) {
        if (type !== FRAME_CONTINUATION || streamId !== this.pending.streamId) {
          throw new FrameError("a header block was interrupted by another frame");
        }
        this.addFragment(payload);
        this.pending.raw.push(buf.slice(pos, frameEnd));
        if (flags & FLAG_END_HEADERS) out.push(this.finishBlock());
        pos = frameEnd;
        passStart = pos;
        continue;
      }
      if (type === FRAME_HEADERS) {
        if (passStart < pos) out.push(buf.subarray(passStart, pos));
        this.startBlock(streamId, flags, payload);
        this.pending!.raw.push(buf.slice(pos, frameEnd));
        if (flags & FLAG_END_HEADERS) out.push(this.finishBlock());
        pos = frameEnd;
        passStart = pos;
        continue;
      }
      if (type === FRAME_CONTINUATION) {
        throw new FrameError("CONTINUATION without a header block in progress");
      }
      if (type === FRAME_GOAWAY && streamId === 0) {
        // Not forwarded: Deno 2.9's nghttp2 aborts the whole process
        // (find_stream_on_goaway_func: Assertion `stream->closed_next == NULL') when it
        // receives a client's GOAWAY on a session that has served many streams, which
        // grpc-js and grpc-go clients send whenever they close a channel. The server loses
        // nothing: the client closes the socket right after, and the server sees that.
        if (passStart < pos) out.push(buf.subarray(passStart, pos));
        this.goawaysDropped++;
        pos = frameEnd;
        passStart = pos;
        continue;
      }
      if (type === FRAME_PUSH_PROMISE) {
        // Clients must never send PUSH_PROMISE; its header block would desynchronise the
        // HPACK table, so the connection ends here as the server would end it.
        throw new FrameError("PUSH_PROMISE from a client");
      }
      pos = frameEnd;
    }
    if (passStart < pos) out.push(buf.subarray(passStart, pos));
    // Keep only the unparsed tail (copied, so the caller's chunk can be reused).
    this.buffer = pos === buf.length ? new Uint8Array(0) : buf.slice(pos);
    return out.length === 1 ? out[0].slice() : concat(out);
  }

  private startBlock(streamId: number, flags: number, payload: Uint8Array): void {
    let start = 0;
    let end = payload.length;
    if (flags & FLAG_PADDED) {
      if (payload.length < 1) throw new FrameError("PADDED HEADERS without a pad length");
      const padLength = payload[0];
      start = 1;
      end -= padLength;
    }
    let priority: Uint8Array | null = null;
    if (flags & FLAG_PRIORITY) {
      priority = payload.slice(start, start + 5);
      start += 5;
    }
    if (end < start) throw new FrameError("HEADERS padding exceeds the frame");
    this.pending = {
      streamId,
      flags: flags & (FLAG_END_STREAM | FLAG_PRIORITY),
      priority,
      fragments: [],
      length: 0,
      raw: [],
    };
    this.addFragment(payload.subarray(start, end));
  }

  private addFragment(fragment: Uint8Array): void {
    const p = this.pending!;
    p.length += fragment.length;
    if (p.length > MAX_HEADER_BLOCK) throw new FrameError("header block too large");
    p.fragments.push(fragment.slice());
  }

  /**
   * Decodes the collected block; forwards it as received while no rewrite was ever needed,
   * else rewrites `:authority` and emits re-encoded HEADERS + CONTINUATIONs.
   */
  private finishBlock(): Uint8Array {
    const p = this.pending!;
    this.pending = null;
    const fields = this.decoder.decode(concat(p.fragments));
    const rewrite = fields.some((f) => f.name === ":authority" && needsRewrite(f.value));
    if (!rewrite && !this.reencoding) return concat(p.raw);
    this.reencoding = true;
    const rewritten = fields.map((f): HeaderField => {
      if (f.name !== ":authority" || !needsRewrite(f.value)) return f;
      this.rewrites++;
      this.onRewrite?.(f.value);
      return { ...f, value: REPLACEMENT_AUTHORITY };
    });
    const block = encodeWithoutIndexing(rewritten);
    const frames: Uint8Array[] = [];
    const firstRoom = SAFE_FRAME_PAYLOAD - (p.priority ? 5 : 0);
    const first = block.subarray(0, firstRoom);
    let rest = block.subarray(first.length);
    frames.push(
      frameHeader(
        first.length + (p.priority ? 5 : 0),
        FRAME_HEADERS,
        p.flags | (rest.length === 0 ? FLAG_END_HEADERS : 0),
        p.streamId,
      ),
    );
    if (p.priority) frames.push(p.priority);
    frames.push(first);
    while (rest.length > 0) {
      const part = rest.subarray(0, SAFE_FRAME_PAYLOAD);
      rest = rest.subarray(part.length);
      frames.push(
        frameHeader(
          part.length,
          FRAME_CONTINUATION,
          rest.length === 0 ? FLAG_END_HEADERS : 0,
          p.streamId,
        ),
      );
      frames.push(part);
    }
    return concat(frames);
  }
}

export interface AuthorityFrontOptions {
  /** The socket clients connect to. */
  socket: string;
  /** The gRPC server's internal socket. */
  upstream: string;
  log: Logger;
  /** Called once per rewritten `:authority` (for the metrics). */
  onRewrite?: () => void;
  /** The public socket's mode, set again when the watchdog re-creates it. */
  socketMode?: number;
}

/**
 * Serves the public socket. Built on node:net (as grpc-js is): with Deno.listen/Deno.connect
 * sockets in the same process as grpc-js's node:http2 server, Deno 2.9 crashed (SIGSEGV)
 * when a proxied connection closed.
 */
/**
 * Server → client: frames pass byte for byte except the server's GOAWAY, which is dropped.
 * Deno 2.9's nghttp2 can abort a *client* process that receives a GOAWAY on a session that
 * has carried many streams (the same find_stream_on_goaway_func assertion as above), and
 * grpc-js sends one to every client at shutdown. Without it the client learns of the
 * shutdown from the closed connection instead, and reconnects as it would after a GOAWAY;
 * grpc clients retry streams the server refuses meanwhile.
 */
export class ServerGoawayFilter {
  private header = new Uint8Array(FRAME_HEADER_LENGTH);
  private headerFill = 0;
  /** Bytes left of the current frame's payload, and whether they are passed on. */
  private payloadLeft = 0;
  private passPayload = true;
  goawaysDropped = 0;

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.payloadLeft > 0) {
        const n = Math.min(this.payloadLeft, chunk.length - pos);
        if (this.passPayload) out.push(chunk.subarray(pos, pos + n));
        this.payloadLeft -= n;
        pos += n;
        continue;
      }
      const n = Math.min(FRAME_HEADER_LENGTH - this.headerFill, chunk.length - pos);
      this.header.set(chunk.subarray(pos, pos + n), this.headerFill);
      this.headerFill += n;
      pos += n;
      if (this.headerFill < FRAME_HEADER_LENGTH) break;
      this.headerFill = 0;
      const h = this.header;
      const length = (h[0] << 16) | (h[1] << 8) | h[2];
      const type = h[3];
      const streamId = ((h[5] & 0x7f) << 24) | (h[6] << 16) | (h[7] << 8) | h[8];
      this.passPayload = !(type === FRAME_GOAWAY && streamId === 0);
      if (this.passPayload) out.push(h.slice());
      else this.goawaysDropped++;
      this.payloadLeft = length;
    }
    return out;
  }
}

export class AuthorityFront {
  private server?: net.Server;
  private watchdog?: ListenerWatchdog;
  private readonly sockets = new Set<net.Socket>();
  private nextId = 0;

  constructor(private readonly opts: AuthorityFrontOptions) {}

  /** Open client connections. */
  get connections(): number {
    return this.sockets.size / 2;
  }

  /** Binds the public socket; the caller has already cleared a stale one. */
  async start(): Promise<void> {
    const server = net.createServer((client) => this.serve(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.socket, () => {
        server.removeListener("error", reject);
        resolve();
      });
    });
    server.on(
      "error",
      (err) => this.opts.log.error("authority front: server error", { error: err }),
    );
    this.server = server;
    // Deno's node:net listener accepts nothing more once accept failed with EMFILE.
    const { socket, socketMode } = this.opts;
    this.watchdog = new ListenerWatchdog(server, {
      name: "CRI socket",
      intervalMs: 5000,
      log: this.opts.log,
      target: () => ({ path: socket }),
      relisten: () => {
        server.close();
        server.listen(socket, () => {
          if (socketMode !== undefined) Deno.chmod(socket, socketMode).catch(() => {});
        });
      },
    });
  }

  /**
   * Stops accepting; open connections stay (their in-flight calls finish through them)
   * until closeConnections(). Does not wait for them: kubelet keeps its
   * connection open for as long as it runs.
   */
  stopAccepting(): void {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.watchdog?.stop();
    server.close();
  }

  closeConnections(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private serve(client: net.Socket): void {
    const id = ++this.nextId;
    const upstream = net.connect(this.opts.upstream);
    this.sockets.add(client);
    this.sockets.add(upstream);
    this.opts.log.debug("authority front: connection opened", { id });
    const rewriter = new RequestRewriter((from) => {
      // Once per connection at debug: an old kubelet sends it on every call.
      if (rewriter.rewrites === 1) {
        this.opts.log.debug("authority front: rewrote :authority", {
          from,
          to: REPLACEMENT_AUTHORITY,
        });
      }
      this.opts.onRewrite?.();
    });
    let closed = false;
    const destroyBoth = (reason?: unknown) => {
      if (closed) return;
      closed = true;
      if (reason instanceof FrameError || (reason as Error | undefined)?.name === "HpackError") {
        this.opts.log.warn("authority front: closing a connection that broke HTTP/2", {
          id,
          error: reason,
        });
      } else if (reason) {
        this.opts.log.debug("authority front: connection ended", { id, error: reason });
      } else {
        this.opts.log.debug("authority front: connection closed", { id });
      }
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    // Client → server: every chunk goes through the rewriter; backpressure by pausing the
    // client while the server side's buffer drains.
    client.on("data", (chunk: Uint8Array) => {
      let out: Uint8Array;
      try {
        out = rewriter.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (err) {
        destroyBoth(err);
        return;
      }
      if (out.length > 0 && !upstream.write(out)) client.pause();
    });
    upstream.on("drain", () => client.resume());
    // Server → client: untouched bytes, but for the server's GOAWAY (see ServerGoawayFilter).
    const responses = new ServerGoawayFilter();
    upstream.on("data", (chunk: Uint8Array) => {
      let blocked = false;
      for (const part of responses.push(chunk)) {
        if (!client.write(part)) blocked = true;
      }
      if (blocked) upstream.pause();
    });
    client.on("drain", () => upstream.resume());
    // An orderly end on one side is passed on as a half-close, as a TCP proxy does.
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    client.on("error", (err) => destroyBoth(err));
    upstream.on("error", (err) => destroyBoth(err));
    let closes = 0;
    const onClose = () => {
      if (++closes === 2) destroyBoth();
      else if (client.destroyed && upstream.destroyed) destroyBoth();
    };
    client.on("close", onClose);
    upstream.on("close", onClose);
  }
}
