/**
 * The server side of one HTTP/2 connection (RFC 9113), as much of it as a gRPC server on a
 * unix socket needs: settings, flow control both ways, header blocks through HPACK, PING,
 * RST_STREAM, GOAWAY, and limits on everything a client can make the server hold.
 *
 * Free of I/O: bytes come in through receive(), go out through the Transport, so that the
 * protocol can be tested frame by frame. Frames produced in one turn of the event loop leave
 * in one write.
 */
import { clearImmediate, setImmediate } from "node:timers";
import { concatBytes } from "../../core/bytes.ts";
import {
  ConnectionError,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  encodeFrame,
  ErrorCode,
  Flag,
  type Frame,
  FRAME_HEADER_LENGTH,
  FrameReader,
  FrameType,
  goawayPayload,
  headerFrames,
  MAX_WINDOW,
  putFrame,
  readUint31,
  Setting,
  settingsPayload,
  uint32Payload,
} from "./frames.ts";
import { encodeWithoutIndexing, type HeaderField, HpackDecoder, HpackError } from "./hpack.ts";
import { ServerStream, type StreamOwner } from "./stream.ts";

export interface Transport {
  write(bytes: Uint8Array): void;
  /** Ends the connection once what was written is out. */
  close(): void;
}

export interface ConnectionLimits {
  /** Streams open (or still being worked on) at once; more are refused. */
  maxConcurrentStreams: number;
  /** Compressed header block and decoded header list bound, in bytes. */
  maxHeaderListSize: number;
  /** The receive window offered per stream and for the whole connection. */
  streamWindow: number;
  connectionWindow: number;
  /** Request bytes the connection may hold in unfinished requests. */
  maxBufferedRequestBytes: number;
  /**
   * PING frames answered per second before the client is told to calm down, not counting
   * the first ping after Skiff sent HEADERS or DATA (grpc-go, kubelet's client, sends a
   * bandwidth-estimation ping as it receives data: one per reply on a busy connection; its
   * own server forgives such pings the same way).
   */
  maxPingsPerSecond: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  maxConcurrentStreams: 1000,
  maxHeaderListSize: 64 * 1024,
  streamWindow: 1 << 20,
  connectionWindow: 16 << 20,
  maxBufferedRequestBytes: 64 << 20,
  maxPingsPerSecond: 50,
};

interface HeaderBlock {
  streamId: number;
  endStream: boolean;
  fragments: Uint8Array[];
  length: number;
}

export class Http2ServerConnection implements StreamOwner {
  private readonly reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE);
  private readonly decoder: HpackDecoder;
  private readonly streams = new Map<number, ServerStream>();
  private block: HeaderBlock | null = null;
  private settingsSeen = false;
  private lastStreamId = 0;
  private sendWindow = DEFAULT_WINDOW;
  private recvWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private buffered = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  private pingsThisSecond = 0;
  private pingSecond = 0;
  /** HEADERS or DATA went out since the last ping: the next one does not count. */
  private pingEarned = false;
  private out: Uint8Array[] = [];
  private flushScheduled = false;
  private lazyFlush: ReturnType<typeof setImmediate> | undefined;
  private closed = false;
  private draining = false;

  constructor(
    private readonly transport: Transport,
    private readonly onStream: (stream: ServerStream) => void,
    private readonly limits: ConnectionLimits = DEFAULT_LIMITS,
    /**
     * Hears why the connection was closed: the client's violation, or (with `cause`) a
     * fault of the server's own; for the log.
     */
    private readonly onViolation: (err: ConnectionError, cause?: unknown) => void = () => {},
  ) {
    this.decoder = new HpackDecoder();
    this.queue(encodeFrame(
      FrameType.SETTINGS,
      0,
      0,
      settingsPayload([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      ]),
    ));
    const extra = limits.connectionWindow - DEFAULT_WINDOW;
    if (extra > 0) {
      this.queue(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint32Payload(extra)));
      this.recvWindow += extra;
    }
  }

  get repliesWaiting(): boolean {
    if (this.sendWindow > 0) return false;
    for (const s of this.streams.values()) if (s.pendingBytes > 0 && !s.sendEnded) return true;
    return false;
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** The client sent the preface and its SETTINGS. */
  get prefaceComplete(): boolean {
    return this.settingsSeen;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes from the client. A protocol violation ends the connection with GOAWAY. */
  receive(chunk: Uint8Array): void {
    if (this.closed) return;
    try {
      for (const frame of this.reader.push(chunk)) {
        this.handle(frame);
        if (this.closed) return;
      }
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err);
      else if (err instanceof HpackError) {
        this.fail(new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message));
      } else {
        // A fault of the server's own (or of the code a stream ran) ends this connection,
        // not the process.
        this.fail(new ConnectionError(ErrorCode.INTERNAL_ERROR, "internal error"), err);
      }
    }
  }

  /** The socket closed: every open stream is aborted. */
  transportClosed(reason = "the client closed the connection"): void {
    if (this.closed) return;
    this.closed = true;
    clearImmediate(this.lazyFlush);
    this.abortAll(reason);
  }

  /**
   * Refuses new streams from now on (REFUSED_STREAM, which clients retry elsewhere) and lets
   * open ones finish. No GOAWAY: Deno's own HTTP/2 client aborts its process on a GOAWAY
   * after many streams (design.md), and the closed socket tells any client as much.
   */
  drain(): void {
    this.draining = true;
    if (this.streams.size === 0) this.close();
  }

  /** Ends the connection now (in-flight streams are aborted). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.abortAll("the server closed the connection");
    this.transport.close();
  }

  private fail(err: ConnectionError, cause?: unknown): void {
    this.onViolation(err, cause);
    this.queue(encodeFrame(
      FrameType.GOAWAY,
      0,
      0,
      goawayPayload(this.lastStreamId, err.code, err.message),
    ));
    this.close();
  }

  private abortAll(reason: string): void {
    for (const s of [...this.streams.values()]) s.abort(reason);
    this.streams.clear();
  }

  private handle(frame: Frame): void {
    if (!this.settingsSeen && frame.type !== FrameType.SETTINGS) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "the first frame was not SETTINGS");
    }
    if (this.block && frame.type !== FrameType.CONTINUATION) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted");
    }
    switch (frame.type) {
      case FrameType.DATA:
        return this.onData(frame);
      case FrameType.HEADERS:
        return this.onHeaders(frame);
      case FrameType.CONTINUATION:
        return this.onContinuation(frame);
      case FrameType.PRIORITY:
        return requireLength(frame, 5);
      case FrameType.RST_STREAM:
        return this.onReset(frame);
      case FrameType.SETTINGS:
        return this.onSettings(frame);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PING:
        return this.onPing(frame);
      case FrameType.GOAWAY:
        // The client will open no more streams; the ones it has still finish.
        return requireStreamZero(frame);
      case FrameType.WINDOW_UPDATE:
        return this.onWindowUpdate(frame);
      default:
        return; // Unknown frame types are ignored (RFC 9113 §5.5).
    }
  }

  private onSettings(frame: Frame): void {
    requireStreamZero(frame);
    if (frame.flags & Flag.ACK) {
      if (frame.payload.length !== 0) {
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      }
      return;
    }
    if (frame.payload.length % 6 !== 0) {
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS of a wrong length");
    }
    this.settingsSeen = true;
    const p = frame.payload;
    for (let i = 0; i < p.length; i += 6) {
      this.applySetting((p[i] << 8) | p[i + 1], readUint31(p, i + 2) + (p[i + 2] & 0x80) * 2 ** 24);
    }
    this.queue(encodeFrame(FrameType.SETTINGS, Flag.ACK, 0));
    this.flushAll();
  }

  private applySetting(id: number, value: number): void {
    if (id === Setting.INITIAL_WINDOW_SIZE) {
      if (value > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "initial window above 2^31-1");
      }
      const delta = value - this.peerInitialWindow;
      this.peerInitialWindow = value;
      for (const s of this.streams.values()) s.sendWindow += delta;
    } else if (id === Setting.MAX_FRAME_SIZE) {
      if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `max frame size ${value}`);
      }
      this.peerMaxFrameSize = value;
    } else if (id === Setting.ENABLE_PUSH && value > 1) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `ENABLE_PUSH ${value}`);
    }
    // HEADER_TABLE_SIZE needs nothing: responses never index (cri/http2/hpack.ts).
  }

  private onPing(frame: Frame): void {
    requireStreamZero(frame);
    requireLength(frame, 8);
    if (frame.flags & Flag.ACK) return;
    if (this.pingEarned) this.pingEarned = false;
    else this.countUnearnedPing();
    this.queueSoon(encodeFrame(FrameType.PING, Flag.ACK, 0, frame.payload));
  }

  private onWindowUpdate(frame: Frame): void {
    requireLength(frame, 4);
    const increment = readUint31(frame.payload, 0);
    if (frame.streamId === 0) {
      if (increment === 0) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      }
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) {
        throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "window above 2^31-1");
      }
      this.flushAll();
      return;
    }
    const stream = this.streams.get(frame.streamId);
    if (!stream || stream.sendEnded) return;
    if (increment === 0 || stream.sendWindow + increment > MAX_WINDOW) {
      stream.abort("flow-control violation");
      this.resetStream(
        stream,
        increment === 0 ? ErrorCode.PROTOCOL_ERROR : ErrorCode.FLOW_CONTROL_ERROR,
      );
      return;
    }
    stream.sendWindow += increment;
    this.flushStream(stream);
  }

  private onReset(frame: Frame): void {
    requireLength(frame, 4);
    this.requireKnownStream(frame);
    this.streams.get(frame.streamId)?.abort("the client cancelled the call");
  }

  private requireKnownStream(frame: Frame): void {
    if (frame.streamId === 0 || frame.streamId > this.lastStreamId) {
      throw new ConnectionError(
        ErrorCode.PROTOCOL_ERROR,
        `frame type ${frame.type} on idle stream ${frame.streamId}`,
      );
    }
  }

  private onData(frame: Frame): void {
    this.requireKnownStream(frame);
    const length = frame.payload.length;
    this.recvWindow -= length;
    if (this.recvWindow < 0) {
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    }
    this.giveBackConnectionWindow(length);
    const data = unpad(frame);
    const stream = this.streams.get(frame.streamId);
    if (!stream || stream.recvEnded) {
      if (!stream) this.queue(rstFrame(frame.streamId, ErrorCode.STREAM_CLOSED));
      return;
    }
    stream.recvWindow -= length;
    if (stream.recvWindow < 0) {
      stream.abort("flow-control violation");
      this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    this.holdRequestBytes(stream, data.length);
    if (data.length > 0) stream.onData(data);
    if (frame.flags & Flag.END_STREAM) this.endRecv(stream);
    else this.giveBackStreamWindow(stream, length);
  }

  private holdRequestBytes(stream: ServerStream, n: number): void {
    stream.received += n;
    this.buffered += n;
    if (this.buffered > this.limits.maxBufferedRequestBytes) {
      throw new ConnectionError(
        ErrorCode.ENHANCE_YOUR_CALM,
        `more than ${this.limits.maxBufferedRequestBytes} bytes of unfinished requests`,
      );
    }
  }

  private endRecv(stream: ServerStream): void {
    this.buffered -= stream.received;
    stream.received = 0;
    stream.endRecv();
  }

  private giveBackConnectionWindow(n: number): void {
    this.recvUnacked += n;
    if (this.recvUnacked >= this.limits.connectionWindow / 2) {
      this.queue(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint32Payload(this.recvUnacked)));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
  }

  private giveBackStreamWindow(stream: ServerStream, n: number): void {
    stream.recvUnacked += n;
    if (stream.recvUnacked >= this.limits.streamWindow / 2) {
      this.queue(
        encodeFrame(FrameType.WINDOW_UPDATE, 0, stream.id, uint32Payload(stream.recvUnacked)),
      );
      stream.recvWindow += stream.recvUnacked;
      stream.recvUnacked = 0;
    }
  }

  private onHeaders(frame: Frame): void {
    const id = frame.streamId;
    if (id === 0 || id % 2 === 0) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    }
    let payload = unpad(frame);
    if (frame.flags & Flag.PRIORITY) {
      if (payload.length < 5) {
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS priority truncated");
      }
      payload = payload.subarray(5);
    }
    this.block = {
      streamId: id,
      endStream: (frame.flags & Flag.END_STREAM) !== 0,
      fragments: [],
      length: 0,
    };
    this.addFragment(payload);
    if (frame.flags & Flag.END_HEADERS) this.finishBlock();
  }

  private onContinuation(frame: Frame): void {
    if (!this.block || this.block.streamId !== frame.streamId) {
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION out of place");
    }
    this.addFragment(frame.payload);
    if (frame.flags & Flag.END_HEADERS) this.finishBlock();
  }

  private addFragment(fragment: Uint8Array): void {
    const block = this.block!;
    block.length += fragment.length;
    if (block.length > this.limits.maxHeaderListSize) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
    }
    block.fragments.push(fragment);
  }

  private finishBlock(): void {
    const block = this.block!;
    this.block = null;
    // Decoded even when the stream is refused: the client's HPACK table moved on.
    const fields = this.decoder.decode(concatBytes(block.fragments), this.limits.maxHeaderListSize);
    const existing = this.streams.get(block.streamId);
    if (existing) return this.onClientTrailers(existing, block);
    if (block.streamId <= this.lastStreamId) {
      throw new ConnectionError(
        ErrorCode.STREAM_CLOSED,
        `HEADERS on closed stream ${block.streamId}`,
      );
    }
    this.lastStreamId = block.streamId;
    if (this.draining || this.streams.size >= this.limits.maxConcurrentStreams) {
      this.queue(rstFrame(block.streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    const stream = new ServerStream(
      block.streamId,
      headerMap(fields),
      this,
      this.peerInitialWindow,
      this.limits.streamWindow,
    );
    this.streams.set(stream.id, stream);
    this.onStream(stream);
    if (block.endStream) this.endRecv(stream);
  }

  private onClientTrailers(stream: ServerStream, block: HeaderBlock): void {
    if (!block.endStream) {
      throw new ConnectionError(
        ErrorCode.PROTOCOL_ERROR,
        "a second header block without END_STREAM",
      );
    }
    if (!stream.recvEnded) this.endRecv(stream);
  }

  // ------------------------------------------------------------------------------------
  // StreamOwner: what streams ask of the connection.

  writeHeaders(
    stream: ServerStream,
    fields: Uint8Array | readonly HeaderField[],
    end: boolean,
  ): void {
    const block = fields instanceof Uint8Array ? fields : encodeWithoutIndexing(fields);
    for (const f of headerFrames(stream.id, block, end, this.peerMaxFrameSize)) this.queue(f);
  }

  writeResponse(
    stream: ServerStream,
    headers: Uint8Array,
    data: Uint8Array,
    trailers: Uint8Array,
  ): boolean {
    const max = this.peerMaxFrameSize;
    if (
      stream.pending.length > 0 || headers.length > max || trailers.length > max ||
      data.length > Math.min(this.sendWindow, stream.sendWindow, max)
    ) return false;
    const out = new Uint8Array(
      3 * FRAME_HEADER_LENGTH + headers.length + data.length + trailers.length,
    );
    let at = putFrame(out, 0, FrameType.HEADERS, Flag.END_HEADERS, stream.id, headers);
    at = putFrame(out, at, FrameType.DATA, 0, stream.id, data);
    putFrame(out, at, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream.id, trailers);
    this.sendWindow -= data.length;
    stream.sendWindow -= data.length;
    this.queue(out);
    return true;
  }

  flushStream(stream: ServerStream): void {
    while (stream.pending.length > 0 && !stream.sendEnded) {
      const room = Math.min(this.sendWindow, stream.sendWindow, this.peerMaxFrameSize);
      if (room <= 0) break;
      const head = stream.pending[0];
      const part = head.length <= room ? head : head.subarray(0, room);
      if (part === head) stream.pending.shift();
      else stream.pending[0] = head.subarray(room);
      stream.pendingBytes -= part.length;
      this.sendWindow -= part.length;
      stream.sendWindow -= part.length;
      this.queue(encodeFrame(FrameType.DATA, 0, stream.id, part));
    }
    if (stream.pending.length === 0 && stream.pendingTrailers && !stream.sendEnded) {
      const trailers = stream.pendingTrailers;
      stream.pendingTrailers = null;
      stream.sendEnded = true;
      this.writeHeaders(stream, trailers, true);
    }
    stream.afterFlush();
  }

  resetStream(stream: ServerStream, code: number): void {
    this.queue(rstFrame(stream.id, code));
  }

  streamClosed(stream: ServerStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    if (!stream.recvEnded) {
      // The response is complete before the request: ask the client to stop sending
      // (RFC 9113 §8.1).
      this.queue(rstFrame(stream.id, ErrorCode.NO_ERROR));
    }
    this.buffered -= stream.received;
    stream.received = 0;
    if (this.draining && this.streams.size === 0) this.close();
  }

  private flushAll(): void {
    for (const s of this.streams.values()) {
      if (s.pending.length > 0 || s.pendingTrailers) this.flushStream(s);
    }
  }

  private countUnearnedPing(): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.pingSecond) {
      this.pingSecond = second;
      this.pingsThisSecond = 0;
    }
    if (++this.pingsThisSecond > this.limits.maxPingsPerSecond) {
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many pings");
    }
  }

  /** Frames queued in one turn of the event loop leave in one write. */
  private queue(frame: Uint8Array): void {
    if (this.closed) return;
    this.out.push(frame);
    if (frame[3] === FrameType.HEADERS || frame[3] === FrameType.DATA) this.pingEarned = true;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /**
   * A frame that may wait until the end of this turn of the event loop (a PING ACK): it
   * leaves with the reply the same read usually brings about, in one write, rather than
   * alone before it. (setImmediate, not setTimeout: a timer woke the daemon again ~2 ms
   * after every call of a grpc-go client, which pings as each reply arrives.)
   */
  private queueSoon(frame: Uint8Array): void {
    if (this.closed) return;
    this.out.push(frame);
    this.lazyFlush ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    clearImmediate(this.lazyFlush);
    this.lazyFlush = undefined;
    if (this.out.length === 0 || this.closed) return;
    const bytes = concatBytes(this.out);
    this.out = [];
    this.transport.write(bytes);
  }
}

function rstFrame(streamId: number, code: number): Uint8Array {
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, uint32Payload(code));
}

function requireStreamZero(frame: Frame): void {
  if (frame.streamId !== 0) {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `frame type ${frame.type} on a stream`);
  }
}

function requireLength(frame: Frame, length: number): void {
  if (frame.payload.length !== length) {
    throw new ConnectionError(
      ErrorCode.FRAME_SIZE_ERROR,
      `frame type ${frame.type} of ${frame.payload.length} bytes`,
    );
  }
}

/** The payload of a DATA or HEADERS frame without its padding. */
function unpad(frame: Frame): Uint8Array {
  if (!(frame.flags & Flag.PADDED)) return frame.payload;
  const p = frame.payload;
  if (p.length < 1 || p[0] >= p.length) {
    throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding exceeds the frame");
  }
  return p.subarray(1, p.length - p[0]);
}

/** Header names are lower case on HTTP/2; for a repeated name the last value is kept. */
function headerMap(fields: readonly HeaderField[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const f of fields) map.set(f.name, f.value);
  return map;
}
