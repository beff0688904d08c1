/**
 * HPACK decoder/encoder against RFC 7541 Appendix C, random round trips and malformed blocks.
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
