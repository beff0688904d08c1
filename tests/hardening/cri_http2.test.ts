/**
 * Hostile HTTP/2 clients on the CRI socket of a real Skiff. Skiff serves HTTP/2 itself
 * (cri/http2/), so it must hold what a malicious or broken peer throws at the connection
 * layer: garbage instead of a preface, header blocks that expand without bound (HPACK
 * bombs), CONTINUATION floods, PING floods, streams reset as fast as they are opened
 * (CVE-2023-44487 "rapid reset"), a message length of gigabytes, streams left open forever.
 * After each, a well-behaved client (the kubelet's connection, held all along) is still
 * served, and so is a new one.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { concatBytes } from "../../core/bytes.ts";
import { CriClient } from "../../cri/client.ts";
import {
  CONNECTION_PREFACE,
  encodeFrame,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  readUint31,
  uint32Payload,
} from "../../cri/http2/frames.ts";
import { HpackDecoder, HpackIndexingEncoder } from "../../cri/http2/hpack.ts";
import { grpcRequestHeaders } from "../../cri/http2/test_peer.ts";
import { TestSkiff } from "../helpers/skiff.ts";

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

/** A raw HTTP/2 client on the unix socket: sends bytes, collects frames, sees the close. */
class RawClient {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly socket: net.Socket;
  private readonly reader = new FrameReader(1 << 24);
  readonly encoder = new HpackIndexingEncoder();
  private waiters: (() => void)[] = [];

  private constructor(path: string) {
    this.reader.push(CONNECTION_PREFACE); // the reader expects one; the server sends none
    this.socket = net.connect(path);
    this.socket.on("data", (b: Uint8Array) => {
      this.frames.push(...this.reader.push(new Uint8Array(b)));
      this.wake();
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    this.socket.on("error", () => {});
  }

  static async open(path: string, handshake = true): Promise<RawClient> {
    const c = new RawClient(path);
    await new Promise((r) => c.socket.once("connect", r));
    if (handshake) c.send(CONNECTION_PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0));
    return c;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(...parts: Uint8Array[]): void {
    if (!this.closed) this.socket.write(concatBytes(parts));
  }

  request(streamId: number, path: string, endStream: boolean): Uint8Array {
    return grpcRequestHeaders(this.encoder, streamId, path, endStream);
  }

  /** Waits until `check` holds for what was received (or the connection closed). */
  async until(check: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error("timed out waiting on the server");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  goawayCode(): number | undefined {
    const g = this.frames.find((f) => f.type === FrameType.GOAWAY);
    return g ? readUint31(g.payload, 4) : undefined;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const VERSION = "/runtime.v1.RuntimeService/Version";
/** An empty VersionRequest as a gRPC message. */
const EMPTY_MESSAGE = new Uint8Array(5);

async function stillServed(s: TestSkiff, held: CriClient, what: string): Promise<void> {
  assert.equal((await held.call("Version", {}, { timeoutMs: 5000 })).runtime_name, "skiff", what);
  const fresh = new CriClient(s.socket, { "grpc.use_local_subchannel_pool": 1 });
  try {
    await fresh.call("ListPodSandbox", {}, { timeoutMs: 5000 });
  } finally {
    fresh.close();
  }
}

async function closedWith(c: RawClient, code: number, what: string): Promise<void> {
  await c.until(() => c.closed);
  assert.equal(c.goawayCode(), code, `${what}: GOAWAY code`);
}

Deno.test("hardening: hostile HTTP/2 peers on the CRI socket are cut off; others stay served", async () => {
  const s = await TestSkiff.create();
  try {
    await s.start();
    const held = s.client;
    await held.call("Version", {});
    const rssBefore = rss(s.pid!);

    // Garbage instead of the preface: GOAWAY PROTOCOL_ERROR and a closed socket.
    const garbage = await RawClient.open(s.socket, false);
    garbage.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await closedWith(garbage, ErrorCode.PROTOCOL_ERROR, "garbage");
    await stillServed(s, held, "after garbage");

    // HPACK bomb: one 4 KiB table entry referenced 2,000 times (2 KB on the wire, 8 MB
    // decoded) is refused before it is expanded.
    const bomb = await RawClient.open(s.socket);
    const value = "v".repeat(4000);
    const literal = bomb.encoder.encode([{ name: "x-big", value }]);
    const refs = new Uint8Array(2000).fill(0x80 | 62);
    bomb.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, concatBytes([literal, refs])));
    await closedWith(bomb, ErrorCode.COMPRESSION_ERROR, "HPACK bomb");

    // CONTINUATION flood: a header block that never ends is cut at the size bound.
    const flood = await RawClient.open(s.socket);
    flood.send(encodeFrame(FrameType.HEADERS, 0, 1, new Uint8Array(0)));
    for (let i = 0; i < 100 && !flood.closed; i++) {
      flood.send(encodeFrame(FrameType.CONTINUATION, 0, 1, new Uint8Array(16000).fill(0x41)));
    }
    await closedWith(flood, ErrorCode.ENHANCE_YOUR_CALM, "CONTINUATION flood");

    // PING flood.
    const pings = await RawClient.open(s.socket);
    const ping = encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8));
    pings.send(...new Array(500).fill(ping));
    await closedWith(pings, ErrorCode.ENHANCE_YOUR_CALM, "PING flood");
    await stillServed(s, held, "after the floods");

    await rapidReset(s);
    await stillServed(s, held, "after rapid reset");

    // A message that claims 4 GiB: refused on its prefix, nothing of it is buffered.
    const huge = await RawClient.open(s.socket);
    huge.send(
      huge.request(1, VERSION, false),
      encodeFrame(FrameType.DATA, 0, 1, new Uint8Array([0, 0xff, 0xff, 0xff, 0xff])),
    );
    await huge.until(() =>
      huge.frames.some((f) => f.type === FrameType.HEADERS && f.streamId === 1)
    );
    const reply = huge.frames.find((f) => f.type === FrameType.HEADERS && f.streamId === 1)!;
    const fields = new HpackDecoder().decode(reply.payload);
    assert.equal(fields.find((f) => f.name === "grpc-status")?.value, "8", "RESOURCE_EXHAUSTED");
    huge.destroy();

    await openStreamsForever(s, held);

    // No memory kept from all of it (generous: the daemon's heap moves on its own).
    await stillServed(s, held, "at the end");
    const grown = rss(s.pid!) - rssBefore;
    assert.ok(grown < 64 * 1024, `RSS grew by ${grown} KiB`);
    assert.equal(await s.stop(), 0);
  } finally {
    await s.dispose();
  }
});

/** 5,000 streams opened and reset at once: each is answered or refused, none piles up. */
async function rapidReset(s: TestSkiff): Promise<void> {
  const c = await RawClient.open(s.socket);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 5000; i++) {
    const id = 1 + 2 * i;
    parts.push(c.request(id, VERSION, false));
    parts.push(encodeFrame(FrameType.RST_STREAM, 0, id, uint32Payload(ErrorCode.CANCEL)));
  }
  c.send(...parts);
  // Then one real call on the same connection is still answered.
  const last = 1 + 2 * 5000;
  c.send(
    c.request(last, VERSION, false),
    encodeFrame(FrameType.DATA, Flag.END_STREAM, last, EMPTY_MESSAGE),
  );
  await c.until(() => c.frames.some((f) => f.streamId === last && f.flags & Flag.END_STREAM));
  assert.equal(c.closed, false, "the connection survives resets it was entitled to");
  c.destroy();
}

/** Streams that send HEADERS and never end: the limit refuses more; a new connection works. */
async function openStreamsForever(s: TestSkiff, held: CriClient): Promise<void> {
  const c = await RawClient.open(s.socket);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 1100; i++) parts.push(c.request(1 + 2 * i, VERSION, false));
  c.send(...parts);
  await c.until(() =>
    c.frames.some((f) =>
      f.type === FrameType.RST_STREAM && readUint31(f.payload, 0) === ErrorCode.REFUSED_STREAM
    )
  );
  await stillServed(s, held, "with 1,000 streams held open by another client");
  c.destroy();
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}
