/**
 * A scripted HTTP/2 client for unit tests of the server side: builds frames, feeds them to
 * an Http2ServerConnection, and decodes what the server wrote.
 */
import { concatBytes } from "../../core/bytes.ts";
import { DEFAULT_LIMITS, Http2ServerConnection } from "./connection.ts";
import {
  CONNECTION_PREFACE,
  type ConnectionError,
  encodeFrame,
  Flag,
  FrameReader,
  FrameType,
  settingsPayload,
} from "./frames.ts";
import { HpackDecoder, HpackIndexingEncoder } from "./hpack.ts";
import type { ServerStream } from "./stream.ts";

export interface SentFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/** A client: builds frames, feeds them in, and reads back what the server wrote. */
export class Peer {
  readonly writes: Uint8Array[] = [];
  closed = false;
  readonly streams: ServerStream[] = [];
  readonly conn: Http2ServerConnection;
  private readonly encoder = new HpackIndexingEncoder();
  private readonly reader = new FrameReader(1 << 24);
  private readonly decoder = new HpackDecoder();

  readonly violations: [ConnectionError, unknown][] = [];

  constructor(limits = DEFAULT_LIMITS, onStream?: (s: ServerStream) => void) {
    this.conn = new Http2ServerConnection(
      { write: (b) => this.writes.push(b), close: () => (this.closed = true) },
      onStream ?? ((s) => this.streams.push(s)),
      limits,
      (err, cause) => this.violations.push([err, cause]),
    );
    // The reader expects a preface before frames: feed it one for the server's side too.
    this.reader.push(CONNECTION_PREFACE);
  }

  send(...frames: Uint8Array[]): void {
    this.conn.receive(concatBytes(frames));
  }

  open(settings: [number, number][] = []): void {
    this.send(CONNECTION_PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0, settingsPayload(settings)));
  }

  headers(streamId: number, path: string, endStream = false): Uint8Array {
    return grpcRequestHeaders(this.encoder, streamId, path, endStream, "/run/skiff/skiff.sock");
  }

  /** A header block of the given fields, through this client's HPACK encoder. */
  encoderFor(fields: [string, string][]): Uint8Array {
    return this.encoder.encode(fields.map(([name, value]) => ({ name, value })));
  }

  /** Everything the server wrote since the last call, as frames. */
  async received(): Promise<SentFrame[]> {
    // Writes leave in a microtask; a PING ACK alone waits for the next macrotask.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const bytes = concatBytes(this.writes.splice(0));
    return bytes.length ? this.reader.push(bytes) : [];
  }

  decode(frame: SentFrame): [string, string][] {
    return this.decoder.decode(frame.payload).map((f) => [f.name, f.value]);
  }
}

/** A gRPC request's HEADERS frame, as a client with `encoder`'s HPACK table sends it. */
export function grpcRequestHeaders(
  encoder: HpackIndexingEncoder,
  streamId: number,
  path: string,
  endStream: boolean,
  authority = "localhost",
): Uint8Array {
  const block = encoder.encode([
    { name: ":method", value: "POST" },
    { name: ":scheme", value: "http" },
    { name: ":path", value: path },
    { name: ":authority", value: authority },
    { name: "content-type", value: "application/grpc" },
  ]);
  const flags = Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0);
  return encodeFrame(FrameType.HEADERS, flags, streamId, block);
}
