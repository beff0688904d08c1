/**
 * The HTTP/2 server connection frame by frame: a scripted client on one side, the frames
 * the server writes on the other.
 */
import assert from "node:assert/strict";
import { concatBytes } from "../../core/bytes.ts";
import { DEFAULT_LIMITS } from "./connection.ts";
import {
  CONNECTION_PREFACE,
  encodeFrame,
  ErrorCode,
  Flag,
  FrameType,
  readUint31,
  Setting,
  uint32Payload,
} from "./frames.ts";
import { encodeWithoutIndexing } from "./hpack.ts";
import { Peer, type SentFrame } from "./test_peer.ts";

const text = (s: string) => new TextEncoder().encode(s);
const data = (id: number, body: Uint8Array, end = false) =>
  encodeFrame(FrameType.DATA, end ? Flag.END_STREAM : 0, id, body);
const goawayCode = (frames: SentFrame[]) => {
  const g = frames.find((f) => f.type === FrameType.GOAWAY);
  return g ? readUint31(g.payload, 4) : undefined;
};

Deno.test("http2: settings, a request, and its response in one write", async () => {
  const p = new Peer();
  p.open();
  const hello = await p.received();
  assert.deepStrictEqual(hello.map((f) => [f.type, f.flags]), [
    [FrameType.SETTINGS, 0],
    [FrameType.WINDOW_UPDATE, 0],
    [FrameType.SETTINGS, Flag.ACK],
  ]);
  p.send(p.headers(1, "/a/b"), data(1, text("hel")), data(1, text("lo"), true));
  const s = p.streams[0];
  assert.equal(s.header(":path"), "/a/b");
  assert.equal(s.header(":authority"), "/run/skiff/skiff.sock");
  const body: string[] = [];
  s.onData = (c) => body.push(new TextDecoder().decode(c));
  // Data that arrived before onData was set went to the default; set up a second stream.
  let ended = false;
  p.send(p.headers(3, "/a/c"));
  const s3 = p.streams[1];
  s3.onData = (c) => body.push(new TextDecoder().decode(c));
  s3.onEnd = () => (ended = true);
  p.send(data(3, text("hi"), true));
  assert.deepStrictEqual(body, ["hi"]);
  assert.ok(ended);
  s3.sendHeaders([{ name: ":status", value: "200", sensitive: false }]);
  s3.sendData(text("reply"));
  s3.sendTrailers([{ name: "grpc-status", value: "0", sensitive: false }]);
  s3.done();
  assert.equal(p.writes.length, 0, "nothing written before the microtask");
  const out = await p.received();
  assert.deepStrictEqual(out.map((f) => [f.type, f.flags, f.streamId]), [
    [FrameType.HEADERS, Flag.END_HEADERS, 3],
    [FrameType.DATA, 0, 3],
    [FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 3],
  ]);
  assert.deepStrictEqual(p.decode(out[0]), [[":status", "200"]]);
  assert.deepStrictEqual(p.decode(out[2]), [["grpc-status", "0"]]);
  assert.equal(p.conn.activeStreams, 1, "stream 3 is closed, stream 1 is still open");
});

Deno.test("http2: DATA waits for the client's window; trailers follow the last byte", async () => {
  const p = new Peer();
  p.open([[Setting.INITIAL_WINDOW_SIZE, 4]]);
  await p.received();
  p.send(p.headers(1, "/x", true));
  const s = p.streams[0];
  s.sendHeaders([{ name: ":status", value: "200", sensitive: false }]);
  s.sendData(text("0123456789"));
  s.sendTrailers([{ name: "grpc-status", value: "0", sensitive: false }]);
  s.done();
  let drained = false;
  s.drained().then(() => (drained = true));
  let out = await p.received();
  assert.deepStrictEqual(out.map((f) => [f.type, f.payload.length]), [
    [FrameType.HEADERS, out[0].payload.length],
    [FrameType.DATA, 4],
  ]);
  assert.equal(drained, false);
  p.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, uint32Payload(100)));
  out = await p.received();
  assert.deepStrictEqual(out.map((f) => [f.type, f.payload.length]), [
    [FrameType.DATA, 6],
    [FrameType.HEADERS, out[1].payload.length],
  ]);
  assert.ok(drained);
  assert.equal(p.conn.activeStreams, 0);
});

Deno.test("http2: a whole response leaves as one buffer, or frame by frame when the window is short", async () => {
  const headers = encodeWithoutIndexing([{ name: ":status", value: "200", sensitive: false }]);
  const trailers = encodeWithoutIndexing([{ name: "grpc-status", value: "0", sensitive: false }]);
  const p = new Peer();
  p.open();
  await p.received();
  p.send(p.headers(1, "/x", true));
  p.streams[0].sendResponse(headers, text("0123456789"), trailers);
  p.streams[0].done();
  await Promise.resolve();
  assert.equal(p.writes.length, 1, "one write");
  const one = await p.received();
  assert.deepStrictEqual(one.map((f) => [f.type, f.flags, f.payload.length]), [
    [FrameType.HEADERS, Flag.END_HEADERS, headers.length],
    [FrameType.DATA, 0, 10],
    [FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, trailers.length],
  ]);
  assert.deepStrictEqual(p.decode(one[2]), [["grpc-status", "0"]]);
  assert.equal(p.conn.activeStreams, 0);

  const q = new Peer();
  q.open([[Setting.INITIAL_WINDOW_SIZE, 4]]);
  await q.received();
  q.send(q.headers(1, "/x", true));
  q.streams[0].sendResponse(headers, text("0123456789"), trailers);
  q.streams[0].done();
  assert.deepStrictEqual((await q.received()).map((f) => [f.type, f.payload.length]), [
    [FrameType.HEADERS, headers.length],
    [FrameType.DATA, 4],
  ]);
  q.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, uint32Payload(100)));
  assert.deepStrictEqual((await q.received()).map((f) => [f.type, f.payload.length]), [
    [FrameType.DATA, 6],
    [FrameType.HEADERS, trailers.length],
  ]);
  assert.equal(q.conn.activeStreams, 0);
});

Deno.test("http2: replies waiting on the client's connection window are reported until it opens", async () => {
  const p = new Peer();
  p.open();
  await p.received();
  assert.equal(p.conn.repliesWaiting, false);
  p.send(p.headers(1, "/big", true));
  const s = p.streams[0];
  s.sendHeaders([{ name: ":status", value: "200", sensitive: false }]);
  // More than the 65,535-byte connection window a client starts with.
  s.sendData(new Uint8Array(70_000));
  assert.equal(p.conn.repliesWaiting, true);
  assert.equal(s.connection.repliesWaiting, true);
  await p.received();
  p.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint32Payload(10_000)));
  p.send(encodeFrame(FrameType.WINDOW_UPDATE, 0, 1, uint32Payload(10_000)));
  assert.equal(p.conn.repliesWaiting, false, "all of it went out");
});

Deno.test("http2: bytes fed one at a time give the same streams", async () => {
  const p = new Peer();
  const all = concatBytes([
    CONNECTION_PREFACE,
    encodeFrame(FrameType.SETTINGS, 0, 0),
    p.headers(1, "/one"),
    data(1, text("abc"), true),
    p.headers(3, "/two", true),
  ]);
  for (const b of all) p.conn.receive(new Uint8Array([b]));
  assert.deepStrictEqual(p.streams.map((s) => s.header(":path")), ["/one", "/two"]);
  assert.ok(p.streams[0].recvEnded && p.streams[1].recvEnded);
  assert.ok(!p.closed);
});

Deno.test("http2: bytes read into one reused buffer give the same streams (nothing keeps a view of it)", async () => {
  const p = new Peer();
  const whole = concatBytes([
    CONNECTION_PREFACE,
    encodeFrame(FrameType.SETTINGS, 0, 0),
    p.headers(1, "/reused"),
    data(1, text("hello "), false),
    data(1, text("world"), true),
  ]);
  const reused = new Uint8Array(7);
  const body: string[] = [];
  for (let at = 0; at < whole.length; at += reused.length) {
    const n = Math.min(reused.length, whole.length - at);
    reused.set(whole.subarray(at, at + n));
    p.conn.receive(reused.subarray(0, n));
    if (p.streams[0] && body.length === 0) {
      p.streams[0].onData = (c) => body.push(new TextDecoder().decode(c));
    }
    reused.fill(0xee); // what the next read would overwrite
  }
  assert.equal(p.streams[0].header(":path"), "/reused");
  assert.deepStrictEqual(body.join(""), "hello world");
  assert.ok(p.streams[0].recvEnded);
  await p.received();
});

Deno.test("http2: a client RST_STREAM aborts the stream, which counts until the app is done", async () => {
  const p = new Peer({ ...DEFAULT_LIMITS, maxConcurrentStreams: 1 });
  p.open();
  await p.received();
  p.send(p.headers(1, "/slow", true));
  let why = "";
  p.streams[0].onAbort = (r) => (why = r);
  p.send(encodeFrame(FrameType.RST_STREAM, 0, 1, uint32Payload(ErrorCode.CANCEL)));
  assert.match(why, /cancelled/);
  // Still working on stream 1: stream 3 is refused (rapid reset cannot pile up work).
  p.send(p.headers(3, "/next", true));
  let out = await p.received();
  assert.deepStrictEqual(out.map((f) => [f.type, f.streamId, readUint31(f.payload, 0)]), [
    [FrameType.RST_STREAM, 3, ErrorCode.REFUSED_STREAM],
  ]);
  p.streams[0].sendTrailers([]); // ignored: the stream is gone
  p.streams[0].done();
  p.send(p.headers(5, "/again", true));
  assert.equal(p.streams.length, 2);
  out = await p.received();
  assert.equal(out.length, 0, "nothing sent for the aborted stream");
});

Deno.test("http2: PING is answered; too many in a second end the connection", async () => {
  const p = new Peer({ ...DEFAULT_LIMITS, maxPingsPerSecond: 3 });
  p.open();
  await p.received();
  const ping = encodeFrame(FrameType.PING, 0, 0, text("12345678"));
  p.send(ping);
  const [pong] = await p.received();
  assert.equal(pong.flags, Flag.ACK);
  assert.deepStrictEqual(pong.payload, text("12345678"));
  p.send(ping, ping, ping);
  const out = await p.received();
  assert.equal(goawayCode(out), ErrorCode.ENHANCE_YOUR_CALM);
  assert.ok(p.closed);
});

Deno.test("http2: a ping per reply is free (grpc-go's BDP pings); the ACK leaves with the reply", async () => {
  const p = new Peer({ ...DEFAULT_LIMITS, maxPingsPerSecond: 3 });
  p.open();
  await p.received();
  const ping = encodeFrame(FrameType.PING, 0, 0, text("12345678"));
  let acks = 0;
  for (let i = 0; i < 10; i++) {
    const id = 1 + 2 * i;
    p.send(p.headers(id, "/x", true));
    const stream = p.streams[i];
    stream.sendHeaders([{ name: ":status", value: "200", sensitive: false }]);
    stream.sendData(text("reply"));
    stream.sendTrailers([{ name: "grpc-status", value: "0", sensitive: false }]);
    stream.done();
    const replies = await p.received();
    // The previous ping's ACK rides along with this reply.
    acks += replies.filter((f) => f.type === FrameType.PING && f.flags === Flag.ACK).length;
    assert.deepStrictEqual(replies.filter((f) => f.type !== FrameType.PING).map((f) => f.type), [
      FrameType.HEADERS,
      FrameType.DATA,
      FrameType.HEADERS,
    ]);
    p.send(ping); // as grpc-go does once data arrived
  }
  const out = await p.received();
  assert.ok(!p.closed, "pings earned by replies ended the connection");
  acks += out.filter((f) => f.type === FrameType.PING && f.flags === Flag.ACK).length;
  assert.equal(acks, 10);
  // A ping and a request in one read: one write carries the ACK and the reply.
  p.send(ping, p.headers(21, "/y", true));
  const stream = p.streams.at(-1)!;
  await Promise.resolve();
  stream.sendHeaders([{ name: ":status", value: "200", sensitive: false }], true);
  stream.done();
  await Promise.resolve();
  assert.equal(p.writes.length, 1, "one write");
  assert.deepStrictEqual((await p.received()).map((f) => f.type), [
    FrameType.PING,
    FrameType.HEADERS,
  ]);
  // Unearned pings still count: the reply above earned one, the other four are a flood.
  p.send(ping, ping, ping, ping, ping);
  assert.equal(goawayCode(await p.received()), ErrorCode.ENHANCE_YOUR_CALM);
  assert.ok(p.closed);
});

Deno.test("http2: a response finished before the request asks the client to stop (RST NO_ERROR)", async () => {
  const p = new Peer();
  p.open();
  await p.received();
  p.send(p.headers(1, "/big"), data(1, text("part")));
  const s = p.streams[0];
  s.sendHeaders([{ name: ":status", value: "200", sensitive: false }], true);
  s.done();
  const out = await p.received();
  assert.deepStrictEqual(out.map((f) => f.type), [FrameType.HEADERS, FrameType.RST_STREAM]);
  assert.equal(readUint31(out[1].payload, 0), ErrorCode.NO_ERROR);
  assert.equal(p.conn.activeStreams, 0);
});

/** Each violation ends the connection with GOAWAY and its code, and closes it. */
const violations: [string, (p: Peer) => Uint8Array[], number][] = [
  ["no preface", () => [text("GET / HTTP/1.1\r\n\r\n")], ErrorCode.PROTOCOL_ERROR],
  [
    "a first frame other than SETTINGS",
    (p) => [CONNECTION_PREFACE, p.headers(1, "/", true)],
    ErrorCode.PROTOCOL_ERROR,
  ],
  [
    "a frame above the max frame size",
    () => [CONNECTION_PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array(16386))],
    ErrorCode.FRAME_SIZE_ERROR,
  ],
];
const afterOpen: [string, (p: Peer) => Uint8Array[], number][] = [
  ["HEADERS on an even stream", (p) => [p.headers(2, "/", true)], ErrorCode.PROTOCOL_ERROR],
  [
    "CONTINUATION out of place",
    () => [encodeFrame(FrameType.CONTINUATION, Flag.END_HEADERS, 1)],
    ErrorCode.PROTOCOL_ERROR,
  ],
  [
    "PUSH_PROMISE",
    () => [encodeFrame(FrameType.PUSH_PROMISE, 0, 1, new Uint8Array(4))],
    ErrorCode.PROTOCOL_ERROR,
  ],
  ["DATA on an idle stream", () => [data(7, text("x"))], ErrorCode.PROTOCOL_ERROR],
  [
    "HEADERS reusing a closed stream",
    (p) => [p.headers(3, "/", true), p.headers(1, "/", true)],
    ErrorCode.STREAM_CLOSED,
  ],
  [
    "an HPACK index past the table",
    () => [encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, new Uint8Array([0xff, 0x10]))],
    ErrorCode.COMPRESSION_ERROR,
  ],
  [
    "a header list that expands past the limit",
    () => {
      // One 4 KiB literal added to the table, then indexed 20 times: 2 KiB on the wire.
      const name = "x".repeat(4000);
      const lit = [0x40, 0x01, 0x61, 0x7f, ...encodeLength(name.length), ...text(name)];
      const refs = new Array(20).fill(0xbe); // dynamic index 62
      return [
        encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, new Uint8Array([...lit, ...refs])),
      ];
    },
    ErrorCode.COMPRESSION_ERROR,
  ],
  [
    "SETTINGS of a wrong length",
    () => [encodeFrame(FrameType.SETTINGS, 0, 0, new Uint8Array(5))],
    ErrorCode.FRAME_SIZE_ERROR,
  ],
  [
    "WINDOW_UPDATE of 0 on the connection",
    () => [encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, uint32Payload(0))],
    ErrorCode.PROTOCOL_ERROR,
  ],
];

/** The 7-bit-prefix HPACK integer continuation bytes for `n` ≥ 127. */
function encodeLength(n: number): number[] {
  const out: number[] = [];
  n -= 127;
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

Deno.test("http2: protocol violations end the connection with GOAWAY and the right code", async () => {
  for (const [what, frames, code] of violations) {
    const p = new Peer();
    p.send(...frames(p));
    assert.equal(goawayCode(await p.received()), code, what);
    assert.ok(p.closed, what);
  }
  for (const [what, frames, code] of afterOpen) {
    const p = new Peer({ ...DEFAULT_LIMITS, maxHeaderListSize: 8192 });
    p.open();
    await p.received();
    p.send(...frames(p));
    assert.equal(goawayCode(await p.received()), code, what);
    assert.ok(p.closed, what);
  }
});

Deno.test("http2: unfinished requests beyond the buffering bound end the connection", async () => {
  const p = new Peer({ ...DEFAULT_LIMITS, maxBufferedRequestBytes: 40_000 });
  p.open();
  await p.received();
  p.send(
    p.headers(1, "/a"),
    data(1, new Uint8Array(16000)),
    p.headers(3, "/b"),
    data(3, new Uint8Array(16000)),
  );
  assert.ok(!p.closed);
  p.send(data(1, new Uint8Array(16000)));
  assert.equal(goawayCode(await p.received()), ErrorCode.ENHANCE_YOUR_CALM);
  assert.ok(p.closed);
});

Deno.test("http2: a fault in the code a stream runs closes that connection, not the process", async () => {
  const p = new Peer(DEFAULT_LIMITS, () => {
    throw new TypeError("a bug");
  });
  p.open();
  await p.received();
  p.send(p.headers(1, "/x", true));
  assert.equal(goawayCode(await p.received()), ErrorCode.INTERNAL_ERROR);
  assert.ok(p.closed);
  assert.ok(p.violations.some(([, cause]) => cause instanceof TypeError));
});
