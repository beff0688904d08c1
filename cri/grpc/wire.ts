/**
 * gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md), the server's part: length-prefixed
 * messages, `grpc-timeout`, and the response header and trailer blocks.
 */
import { encodeWithoutIndexing, type HeaderField } from "../http2/hpack.ts";
import { GrpcStatus } from "../errors.ts";

export const MESSAGE_PREFIX_LENGTH = 5;

/** A request that breaks gRPC's framing rules; answered with `code`, not a crash. */
export class GrpcWireError extends Error {
  constructor(readonly code: GrpcStatus, message: string) {
    super(message);
    this.name = "GrpcWireError";
  }
}

/**
 * Collects a request body and splits it into messages. A message larger than `maxLength`
 * is refused as soon as its prefix arrives, before its bytes are held.
 */
export class MessageReader {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  readonly messages: Uint8Array[] = [];

  constructor(private readonly maxLength: number) {}

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.split();
  }

  /** The body is complete: anything left over is a truncated message. */
  end(): void {
    if (this.buffered > 0) {
      throw new GrpcWireError(GrpcStatus.INTERNAL, "the request ended inside a message");
    }
  }

  private split(): void {
    while (this.buffered >= MESSAGE_PREFIX_LENGTH) {
      const head = this.peek(MESSAGE_PREFIX_LENGTH);
      if (head[0] > 1) {
        throw new GrpcWireError(GrpcStatus.INTERNAL, `message flag ${head[0]} is not 0 or 1`);
      }
      if (head[0] === 1) {
        throw new GrpcWireError(
          GrpcStatus.UNIMPLEMENTED,
          "compressed messages are not accepted; send them uncompressed (grpc-encoding identity)",
        );
      }
      const length = (head[1] * 2 ** 24) + ((head[2] << 16) | (head[3] << 8) | head[4]);
      if (length > this.maxLength) {
        throw new GrpcWireError(
          GrpcStatus.RESOURCE_EXHAUSTED,
          `received message larger than max (${length} vs. ${this.maxLength})`,
        );
      }
      if (this.buffered < MESSAGE_PREFIX_LENGTH + length) return;
      const whole = this.peek(MESSAGE_PREFIX_LENGTH + length);
      this.messages.push(whole.subarray(MESSAGE_PREFIX_LENGTH));
      this.drop(MESSAGE_PREFIX_LENGTH + length);
    }
  }

  /** The first `n` buffered bytes as one array (joining chunks only when needed). */
  private peek(n: number): Uint8Array {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const joined = new Uint8Array(this.buffered);
    let pos = 0;
    for (const c of this.chunks) {
      joined.set(c, pos);
      pos += c.length;
    }
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private drop(n: number): void {
    this.buffered -= n;
    while (n > 0) {
      const head = this.chunks[0];
      if (head.length <= n) {
        this.chunks.shift();
        n -= head.length;
      } else {
        this.chunks[0] = head.subarray(n);
        n = 0;
      }
    }
  }
}

/** A message with its 5-byte prefix (never compressed). */
export function frameMessage(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(MESSAGE_PREFIX_LENGTH + message.length);
  out.set(message, MESSAGE_PREFIX_LENGTH);
  return fillPrefix(out);
}

/**
 * Writes the prefix into the first MESSAGE_PREFIX_LENGTH bytes of `framed`, a message encoded
 * after that much room (no copy).
 */
export function fillPrefix(framed: Uint8Array): Uint8Array {
  const n = framed.length - MESSAGE_PREFIX_LENGTH;
  framed[0] = 0;
  framed[1] = (n >>> 24) & 0xff;
  framed[2] = (n >>> 16) & 0xff;
  framed[3] = (n >>> 8) & 0xff;
  framed[4] = n & 0xff;
  return framed;
}

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** `grpc-timeout` (1–8 digits and a unit) in milliseconds; undefined when absent. */
export function parseTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) throw new GrpcWireError(GrpcStatus.INTERNAL, `malformed grpc-timeout "${value}"`);
  return Number(m[1]) * TIMEOUT_UNIT_MS[m[2]];
}

const field = (name: string, value: string): HeaderField => ({ name, value, sensitive: false });

/** The headers of every successful response, encoded once. */
export const RESPONSE_HEADERS: Uint8Array = encodeWithoutIndexing([
  field(":status", "200"),
  field("content-type", "application/grpc"),
  field("grpc-accept-encoding", "identity"),
]);

/** `grpc-status: 0` alone: the trailers of every successful call. */
export const OK_TRAILERS: Uint8Array = encodeWithoutIndexing([field("grpc-status", "0")]);

/** Trailers with a status and its message. */
export function statusTrailers(code: GrpcStatus, message: string): Uint8Array {
  return encodeWithoutIndexing(statusFields(code, message));
}

/** A whole error response in one header block (gRPC's "Trailers-Only"). */
export function trailersOnly(code: GrpcStatus, message: string): Uint8Array {
  return encodeWithoutIndexing([
    field(":status", "200"),
    field("content-type", "application/grpc"),
    ...statusFields(code, message),
  ]);
}

function statusFields(code: GrpcStatus, message: string): HeaderField[] {
  const fields = [field("grpc-status", String(code))];
  if (message) fields.push(field("grpc-message", percentEncode(message)));
  return fields;
}

/**
 * `grpc-message` is percent-encoded UTF-8: printable ASCII but `%` stays as it is. The
 * result holds only ASCII, one char per octet, as the HPACK encoder expects.
 */
export function percentEncode(message: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(message)) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** An HTTP-level refusal (no gRPC status): wrong method or content type. */
export function httpStatusOnly(status: number): Uint8Array {
  return encodeWithoutIndexing([
    field(":status", String(status)),
    field("content-type", "text/plain"),
  ]);
}
