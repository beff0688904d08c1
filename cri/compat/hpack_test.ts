/**
 * HPACK decoder/encoder against RFC 7541 Appendix C, random round trips, and the front's
 * frame rewriter fed byte by byte.
 */
import assert from "node:assert/strict";
import {
  encodeWithoutIndexing,
  HpackDecoder,
  HpackError,
  HpackIndexingEncoder,
  huffmanDecode,
  huffmanEncode,
} from "./hpack.ts";
import { FrameError, HTTP2_PREFACE, needsRewrite, RequestRewriter } from "./authority_front.ts";

const hex = (s: string) =>
  new Uint8Array(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));
const pairs = (fields: { name: string; value: string }[]) => fields.map((f) => [f.name, f.value]);

Deno.test("HPACK: RFC 7541 C.3 requests without Huffman share one dynamic table", () => {
  const d = new HpackDecoder();
  assert.deepStrictEqual(pairs(d.decode(hex("828684410f7777772e6578616d706c652e636f6d"))), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  assert.deepStrictEqual(d.tableSize, 57);
  assert.deepStrictEqual(pairs(d.decode(hex("828684be58086e6f2d6361636865"))), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  assert.deepStrictEqual(d.tableSize, 110);
  assert.deepStrictEqual(
    pairs(d.decode(hex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"))),
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  );
  assert.deepStrictEqual(d.tableSize, 164);
});

Deno.test("HPACK: RFC 7541 C.4 requests with Huffman", () => {
  const d = new HpackDecoder();
  assert.deepStrictEqual(pairs(d.decode(hex("828684418cf1e3c2e5f23a6ba0ab90f4ff"))), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
  ]);
  assert.deepStrictEqual(pairs(d.decode(hex("828684be5886a8eb10649cbf"))).at(-1), [
    "cache-control",
    "no-cache",
  ]);
  assert.deepStrictEqual(
    pairs(d.decode(hex("828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"))).at(-1),
    ["custom-key", "custom-value"],
  );
  assert.deepStrictEqual(d.tableSize, 164);
});

Deno.test("HPACK: RFC 7541 C.6 responses with Huffman and eviction (table size 256)", () => {
  const d = new HpackDecoder(256);
  d.decode(hex(
    "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
  ));
  assert.deepStrictEqual(d.tableSize, 222);
  const second = d.decode(hex("4883640effc1c0bf"));
  assert.deepStrictEqual(pairs(second)[0], [":status", "307"]);
  assert.deepStrictEqual(d.tableSize, 222);
  const third = d.decode(hex(
    "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
  ));
  assert.deepStrictEqual(pairs(third).at(-1), [
    "set-cookie",
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
  ]);
  assert.deepStrictEqual(d.tableSize, 215);
});

Deno.test("HPACK: Huffman round trip of every octet, and invalid padding is refused", () => {
  const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
  assert.deepStrictEqual(huffmanDecode(huffmanEncode(all)), all);
  assert.deepStrictEqual(huffmanEncode("www.example.com"), hex("f1e3c2e5f23a6ba0ab90f4ff"));
  // "a" is 00011 (5 bits); padding with zeros instead of ones is invalid.
  assert.throws(() => huffmanDecode(new Uint8Array([0b00011000])), HpackError);
  // A full byte of ones as padding (8 bits) is too long.
  assert.throws(() => huffmanDecode(new Uint8Array([0b00011111, 0xff])), HpackError);
});

Deno.test("HPACK: random header lists survive encode(indexing) → decode → re-encode → decode", () => {
  const rnd = (n: number) => Math.floor(Math.random() * n);
  const enc = new HpackIndexingEncoder();
  const clientSide = new HpackDecoder();
  const serverSide = new HpackDecoder();
  const names = [":authority", ":path", "content-type", "te", "x-custom", "grpc-timeout"];
  for (let i = 0; i < 300; i++) {
    const fields = Array.from({ length: 1 + rnd(8) }, () => ({
      name: names[rnd(names.length)],
      value: String.fromCharCode(...Array.from({ length: rnd(40) }, () => rnd(256))),
      sensitive: false,
    }));
    const decoded = clientSide.decode(enc.encode(fields));
    assert.deepStrictEqual(pairs(decoded), pairs(fields));
    const again = serverSide.decode(encodeWithoutIndexing(decoded));
    assert.deepStrictEqual(pairs(again), pairs(fields));
    assert.deepStrictEqual(serverSide.tableLength, 0, "re-encoded blocks never index");
  }
  assert.ok(clientSide.tableLength > 0);
});

Deno.test("HPACK: malformed blocks are errors, not crashes", () => {
  const d = new HpackDecoder();
  assert.throws(() => d.decode(hex("80")), HpackError); // index 0
  assert.throws(() => d.decode(hex("c0")), HpackError); // dynamic index 64, empty table
  assert.throws(() => d.decode(hex("410f77")), HpackError); // string past the end
  assert.throws(() => d.decode(hex("823f")), HpackError); // size update after a field
  assert.throws(() => d.decode(hex("3fe1ff03")), HpackError); // size update above 4096
  const neverIndexed = d.decode(hex("1001610162"));
  assert.deepStrictEqual(neverIndexed, [{ name: "a", value: "b", sensitive: true }]);
  assert.deepStrictEqual(encodeWithoutIndexing(neverIndexed), hex("1001610162"));
});

/** Builds one HTTP/2 frame. */
function frame(type: number, flags: number, stream: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = payload.length >>> 16;
  out[1] = (payload.length >>> 8) & 0xff;
  out[2] = payload.length & 0xff;
  out[3] = type;
  out[4] = flags;
  new DataView(out.buffer).setUint32(5, stream);
  out.set(payload, 9);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

function parseFrames(bytes: Uint8Array): Frame[] {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const len = (bytes[pos] << 16) | (bytes[pos + 1] << 8) | bytes[pos + 2];
    frames.push({
      type: bytes[pos + 3],
      flags: bytes[pos + 4],
      stream: new DataView(bytes.buffer, bytes.byteOffset + pos + 5, 4).getUint32(0),
      payload: bytes.slice(pos + 9, pos + 9 + len),
    });
    pos += 9 + len;
  }
  return frames;
}

Deno.test("front rewriter: socket-path :authority becomes localhost; other frames verbatim", () => {
  const enc = new HpackIndexingEncoder();
  const request = (path: string) =>
    enc.encode([
      { name: ":method", value: "POST" },
      { name: ":scheme", value: "http" },
      { name: ":path", value: path },
      { name: ":authority", value: "/run/skiff/skiff.sock" },
      { name: "content-type", value: "application/grpc" },
      { name: "user-agent", value: "grpc-go/1.26.0" },
    ]);
  const settings = frame(0x4, 0, 0, hex("000300000064"));
  const block1 = request("/runtime.v1.RuntimeService/Version");
  // Stream 1: PADDED + PRIORITY HEADERS, its block split over a CONTINUATION.
  const split = 5;
  const headers1 = frame(
    0x1,
    0x8 | 0x20,
    1,
    concat([hex("03"), hex("0000000010"), block1.subarray(0, split), hex("000000")]),
  );
  const cont1 = frame(0x9, 0x4, 1, block1.subarray(split));
  const data1 = frame(0x0, 0x1, 1, hex("0000000000"));
  // Stream 3: the same request again, now mostly dynamic-table references.
  const headers3 = frame(0x1, 0x4 | 0x1, 3, request("/runtime.v1.RuntimeService/Status"));
  const input = concat([HTTP2_PREFACE, settings, headers1, cont1, data1, headers3]);

  const seen: string[] = [];
  const rw = new RequestRewriter((from) => seen.push(from));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < input.length; i++) chunks.push(rw.push(input.slice(i, i + 1)));
  const out = concat(chunks);

  assert.deepStrictEqual(out.subarray(0, HTTP2_PREFACE.length), HTTP2_PREFACE);
  const frames = parseFrames(out.subarray(HTTP2_PREFACE.length));
  assert.deepStrictEqual(frames.map((f) => [f.type, f.flags, f.stream]), [
    [0x4, 0, 0],
    [0x1, 0x20 | 0x4, 1],
    [0x0, 0x1, 1],
    [0x1, 0x4 | 0x1, 3],
  ]);
  assert.deepStrictEqual(frames[0].payload, settings.subarray(9));
  assert.deepStrictEqual(frames[1].payload.subarray(0, 5), hex("0000000010"));
  assert.deepStrictEqual(frames[2].payload, data1.subarray(9));
  const server = new HpackDecoder();
  const h1 = server.decode(frames[1].payload.subarray(5));
  const h3 = server.decode(frames[3].payload);
  assert.deepStrictEqual(h1.find((f) => f.name === ":authority")?.value, "localhost");
  assert.deepStrictEqual(h3.find((f) => f.name === ":authority")?.value, "localhost");
  assert.deepStrictEqual(
    h3.find((f) => f.name === ":path")?.value,
    "/runtime.v1.RuntimeService/Status",
  );
  assert.deepStrictEqual(h1.length, 6);
  assert.deepStrictEqual(seen, ["/run/skiff/skiff.sock", "/run/skiff/skiff.sock"]);
});

Deno.test("front rewriter: valid :authority blocks pass byte for byte until the first rewrite", () => {
  const enc = new HpackIndexingEncoder();
  const request = (path: string, authority: string) =>
    enc.encode([
      { name: ":method", value: "POST" },
      { name: ":scheme", value: "http" },
      { name: ":path", value: path },
      { name: ":authority", value: authority },
      { name: "content-type", value: "application/grpc" },
      { name: "x-trace", value: `t-${path}` },
    ]);
  // Streams 1 and 3: a modern client (indexing encoder: stream 3 leans on stream 1's
  // entries). Stream 5: an old client's socket path. Stream 7: valid again, but by now
  // the server's table can no longer follow the client's, so it is re-encoded too.
  const h1 = frame(0x1, 0x4, 1, request("/a", "localhost"));
  const h3 = frame(0x1, 0x4 | 0x1, 3, request("/a", "localhost"));
  const h5 = frame(0x1, 0x4, 5, request("/b", "/run/skiff/skiff.sock"));
  const h7 = frame(0x1, 0x4, 7, request("/c", "localhost"));
  const rw = new RequestRewriter();
  const passed = rw.push(concat([HTTP2_PREFACE, h1, h3]));
  assert.deepStrictEqual(passed, concat([HTTP2_PREFACE, h1, h3]), "forwarded as received");
  const later = parseFrames(rw.push(concat([h5, h7])));
  const server = new HpackDecoder();
  server.decode(h1.subarray(9));
  server.decode(h3.subarray(9));
  const f5 = server.decode(later[0].payload);
  const f7 = server.decode(later[1].payload);
  assert.equal(f5.find((f) => f.name === ":authority")?.value, "localhost");
  assert.equal(f5.find((f) => f.name === ":path")?.value, "/b");
  assert.equal(f7.find((f) => f.name === ":path")?.value, "/c");
  assert.equal(f7.find((f) => f.name === "x-trace")?.value, "t-/c");
  assert.notDeepStrictEqual(later[1].payload, h7.subarray(9), "re-encoded after a rewrite");
  assert.equal(rw.rewrites, 1);
});

Deno.test("front rewriter: a huge header block is split into CONTINUATIONs of 16 KiB", () => {
  const big = "x".repeat(40000);
  const block = encodeWithoutIndexing([
    { name: ":authority", value: "localhost", sensitive: false },
    { name: "x-big", value: big, sensitive: false },
  ]);
  const frames0 = [
    frame(0x1, 0, 1, block.subarray(0, 16000)),
    frame(0x9, 0, 1, block.subarray(16000, 32000)),
    frame(0x9, 0x4, 1, block.subarray(32000)),
  ];
  const rw = new RequestRewriter();
  const out = rw.push(concat([HTTP2_PREFACE, ...frames0]));
  const frames = parseFrames(out.subarray(HTTP2_PREFACE.length));
  assert.ok(frames.every((f) => f.payload.length <= 16384));
  assert.deepStrictEqual(frames.at(-1)!.flags & 0x4, 0x4);
  const fields = new HpackDecoder().decode(concat(frames.map((f) => f.payload)));
  assert.deepStrictEqual(fields[1].value, big);
});

Deno.test("front rewriter: protocol violations end the connection", () => {
  assert.throws(
    () => new RequestRewriter().push(new TextEncoder().encode("GET / HTTP/1.1\r\n")),
    FrameError,
  );
  const rw = new RequestRewriter();
  assert.throws(
    () =>
      rw.push(concat([
        HTTP2_PREFACE,
        frame(0x1, 0, 1, hex("82")),
        frame(0x0, 0, 1, hex("00")),
      ])),
    FrameError,
  );
});

Deno.test("front rewriter: client GOAWAY is held back, the frames around it pass", () => {
  const ping = frame(0x6, 0, 0, hex("0102030405060708"));
  const goaway = frame(0x7, 0, 0, hex("0000000300000000"));
  const rw = new RequestRewriter();
  const out = rw.push(concat([HTTP2_PREFACE, ping, goaway, ping]));
  assert.deepStrictEqual(out, concat([HTTP2_PREFACE, ping, ping]));
  assert.equal(rw.goawaysDropped, 1);
});

Deno.test("front: which authorities are rewritten", () => {
  for (const ok of ["localhost", "localhost:443", "10.0.0.1:10010", "[::1]:80", "a.b-c_d"]) {
    assert.deepStrictEqual(needsRewrite(ok), false, ok);
  }
  for (const bad of ["/run/skiff/skiff.sock", "unix:///run/x.sock", "", "a b"]) {
    assert.deepStrictEqual(needsRewrite(bad), true, bad);
  }
});
