/**
 * HTTP/2 framing (RFC 9113 §4): the frame types, flags, error codes and settings a gRPC
 * server needs, an incremental reader that splits a byte stream into frames, and writers.
 */

import { concatBytes } from "../../core/bytes.ts";

export const CONNECTION_PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
export const FRAME_HEADER_LENGTH = 9;
/** The default (and smallest allowed) SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
export const MAX_WINDOW = 0x7fffffff;
export const DEFAULT_WINDOW = 65535;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/**
 * A violation that ends the whole connection (RFC 9113 §5.4.1): the server sends GOAWAY
 * with `code` and closes.
 */
export class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(`HTTP/2: ${message}`);
    this.name = "ConnectionError";
  }
}

/** An empty buffer, shared: what the reader holds between frames. */
const NOTHING = new Uint8Array(0);

/**
 * Splits the client's bytes into frames: checks the connection preface first, refuses a
 * frame longer than `maxFrameSize` (the SETTINGS_MAX_FRAME_SIZE the server advertised)
 * before buffering it.
 */
export class FrameReader {
  private buffer: Uint8Array = NOTHING;
  private prefaceSeen = false;

  constructor(private readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {}

  /**
   * Frames completed by `chunk`; their payloads are copies, safe to keep, and nothing of
   * `chunk` itself is kept (the caller may reuse it).
   */
  push(chunk: Uint8Array): Frame[] {
    let buf = this.buffer.length === 0 ? chunk : concatBytes([this.buffer, chunk]);
    if (!this.prefaceSeen) {
      if (!startsLike(buf, CONNECTION_PREFACE)) {
        throw new ConnectionError(
          ErrorCode.PROTOCOL_ERROR,
          "the client did not send the HTTP/2 connection preface (is it speaking gRPC?)",
        );
      }
      if (buf.length < CONNECTION_PREFACE.length) {
        this.buffer = buf.slice();
        return [];
      }
      buf = buf.subarray(CONNECTION_PREFACE.length);
      this.prefaceSeen = true;
    }
    const frames: Frame[] = [];
    let pos = 0;
    while (buf.length - pos >= FRAME_HEADER_LENGTH) {
      const length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2];
      if (length > this.maxFrameSize) {
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, `a frame of ${length} bytes`);
      }
      const end = pos + FRAME_HEADER_LENGTH + length;
      if (end > buf.length) break;
      frames.push({
        type: buf[pos + 3],
        flags: buf[pos + 4],
        streamId: readUint31(buf, pos + 5),
        payload: buf.slice(pos + FRAME_HEADER_LENGTH, end),
      });
      pos = end;
    }
    this.buffer = pos === buf.length ? NOTHING : buf.slice(pos);
    return frames;
  }
}

function startsLike(buf: Uint8Array, prefix: Uint8Array): boolean {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return true;
}

export function readUint31(buf: Uint8Array, pos: number): number {
  return ((buf[pos] & 0x7f) << 24 | buf[pos + 1] << 16 | buf[pos + 2] << 8 | buf[pos + 3]) >>> 0;
}

function writeUint32(buf: Uint8Array, pos: number, value: number): void {
  buf[pos] = (value >>> 24) & 0xff;
  buf[pos + 1] = (value >>> 16) & 0xff;
  buf[pos + 2] = (value >>> 8) & 0xff;
  buf[pos + 3] = value & 0xff;
}

/** One frame as bytes. */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_LENGTH + payload.length);
  putFrame(out, 0, type, flags, streamId, payload);
  return out;
}

/** Writes a frame into `out` at `at`; returns where it ends. */
export function putFrame(
  out: Uint8Array,
  at: number,
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
): number {
  out[at] = (payload.length >>> 16) & 0xff;
  out[at + 1] = (payload.length >>> 8) & 0xff;
  out[at + 2] = payload.length & 0xff;
  out[at + 3] = type;
  out[at + 4] = flags;
  writeUint32(out, at + 5, streamId & MAX_WINDOW);
  out.set(payload, at + FRAME_HEADER_LENGTH);
  return at + FRAME_HEADER_LENGTH + payload.length;
}

export function settingsPayload(settings: ReadonlyArray<[number, number]>): Uint8Array {
  const out = new Uint8Array(settings.length * 6);
  settings.forEach(([id, value], i) => {
    out[i * 6] = id >>> 8;
    out[i * 6 + 1] = id & 0xff;
    writeUint32(out, i * 6 + 2, value);
  });
  return out;
}

export function uint32Payload(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  values.forEach((v, i) => writeUint32(out, i * 4, v));
  return out;
}

export function goawayPayload(lastStreamId: number, code: number, debug: string): Uint8Array {
  const text = new TextEncoder().encode(debug.slice(0, 200));
  const out = new Uint8Array(8 + text.length);
  out.set(uint32Payload(lastStreamId & MAX_WINDOW, code));
  out.set(text, 8);
  return out;
}

/**
 * A header block as HEADERS + CONTINUATION frames no longer than `maxFrameSize`
 * (the peer's SETTINGS_MAX_FRAME_SIZE).
 */
export function headerFrames(
  streamId: number,
  block: Uint8Array,
  endStream: boolean,
  maxFrameSize: number,
): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let rest = block;
  let type: number = FrameType.HEADERS;
  do {
    const part = rest.subarray(0, maxFrameSize);
    rest = rest.subarray(part.length);
    let flags = rest.length === 0 ? Flag.END_HEADERS : 0;
    if (type === FrameType.HEADERS && endStream) flags |= Flag.END_STREAM;
    frames.push(encodeFrame(type, flags, streamId, part));
    type = FrameType.CONTINUATION;
  } while (rest.length > 0);
  return frames;
}
