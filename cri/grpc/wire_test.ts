import assert from "node:assert/strict";
import { GrpcStatus } from "../errors.ts";
import { HpackDecoder } from "../http2/hpack.ts";
import {
  frameMessage,
  GrpcWireError,
  MessageReader,
  parseTimeout,
  percentEncode,
  trailersOnly,
} from "./wire.ts";

const codeOf = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof GrpcWireError, String(err));
    return err.code;
  }
  return undefined;
};

Deno.test("grpc wire: messages split at any chunking; framing round-trips", () => {
  const a = frameMessage(new Uint8Array([1, 2, 3]));
  const b = frameMessage(new Uint8Array(0));
  const all = new Uint8Array([...a, ...b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const r = new MessageReader(100);
    r.push(all.subarray(0, cut));
    r.push(all.subarray(cut));
    r.end();
    assert.deepStrictEqual(r.messages.map((m) => [...m]), [[1, 2, 3], []]);
  }
});

Deno.test("grpc wire: oversized, compressed and truncated messages get their codes", () => {
  const big = new MessageReader(10);
  // Refused on the prefix alone, before the 1 GiB body could be held.
  assert.equal(
    codeOf(() => big.push(new Uint8Array([0, 0x40, 0, 0, 0]))),
    GrpcStatus.RESOURCE_EXHAUSTED,
  );
  assert.equal(
    codeOf(() => new MessageReader(10).push(new Uint8Array([1, 0, 0, 0, 1, 9]))),
    GrpcStatus.UNIMPLEMENTED,
  );
  assert.equal(
    codeOf(() => new MessageReader(10).push(new Uint8Array([7, 0, 0, 0, 0]))),
    GrpcStatus.INTERNAL,
  );
  const short = new MessageReader(10);
  short.push(new Uint8Array([0, 0, 0, 0, 4, 1]));
  assert.equal(codeOf(() => short.end()), GrpcStatus.INTERNAL);
});

Deno.test("grpc wire: grpc-timeout units, and malformed values", () => {
  assert.equal(parseTimeout(undefined), undefined);
  assert.equal(parseTimeout("2S"), 2000);
  assert.equal(parseTimeout("1H"), 3_600_000);
  assert.equal(parseTimeout("1500000u"), 1500);
  assert.equal(parseTimeout("99999999n"), 99.999999);
  for (const bad of ["", "5", "123456789S", "1s", "-1S", "1.5S"]) {
    assert.equal(codeOf(() => parseTimeout(bad)), GrpcStatus.INTERNAL, bad);
  }
});

Deno.test("grpc wire: grpc-message is percent-encoded UTF-8; trailers-only carries it", () => {
  assert.equal(percentEncode("plain text"), "plain text");
  assert.equal(percentEncode("100% é\n"), "100%25 %C3%A9%0A");
  const fields = new HpackDecoder().decode(trailersOnly(GrpcStatus.NOT_FOUND, "no ü"));
  assert.deepStrictEqual(fields.map((f) => [f.name, f.value]), [
    [":status", "200"],
    ["content-type", "application/grpc"],
    ["grpc-status", "5"],
    ["grpc-message", "no %C3%BC"],
  ]);
});
