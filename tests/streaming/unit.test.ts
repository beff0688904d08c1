/** Pure pieces of the streaming server: tokens, SPDY header blocks and zlib, resize parsing. */
import assert from "node:assert/strict";
import { ResourceExhaustedError } from "../../core/errors.ts";
import { TokenStore } from "../../streaming/tokens.ts";
import { decodeHeaderBlock, encodeHeaderBlock } from "../../streaming/spdy.ts";
import { HeaderDeflater, HeaderInflater } from "../../streaming/spdy_zlib.ts";
import { resizeEvents } from "../../streaming/protocols.ts";
import type { TerminalSize } from "../../streaming/types.ts";

const execReq = {
  kind: "exec" as const,
  req: { containerId: "c", cmd: ["true"], tty: false, stdin: false, stdout: true, stderr: true },
};

Deno.test("tokens: single use, expire, kind-bound, bounded in number", () => {
  let now = 0;
  const tokens = new TokenStore({ ttlMs: 1000, maxOutstanding: 3, now: () => now });
  const a = tokens.insert(execReq);
  assert.match(a, /^[A-Za-z0-9_-]{24}$/);
  assert.deepEqual(tokens.consume(a, "exec"), execReq);
  assert.equal(tokens.consume(a, "exec"), undefined);
  // A token for exec is no attach token, and is spent by the attempt.
  const b = tokens.insert(execReq);
  assert.equal(tokens.consume(b, "attach"), undefined);
  assert.equal(tokens.consume(b, "exec"), undefined);
  const c = tokens.insert(execReq);
  now = 1000;
  assert.equal(tokens.consume(c, "exec"), undefined);
  // Full: refused while all are live, accepted once expired ones can be dropped.
  now = 2000;
  for (let i = 0; i < 3; i++) tokens.insert(execReq);
  assert.throws(() => tokens.insert(execReq), ResourceExhaustedError);
  now = 3500;
  tokens.insert(execReq);
  assert.equal(tokens.size, 1);
  // Tokens are random.
  assert.notEqual(tokens.insert(execReq), tokens.insert(execReq));
});

Deno.test("SPDY header blocks: round trip through the shared zlib contexts", () => {
  const deflate = new HeaderDeflater();
  const inflate = new HeaderInflater();
  const blocks = [
    new Map([["streamtype", "error"]]),
    new Map([["streamtype", "data"], ["port", "8080"], ["requestid", "0"]]),
    new Map([["x-long", "v".repeat(70_000)]]),
    new Map<string, string>(),
  ];
  for (const h of blocks) {
    assert.deepEqual(
      decodeHeaderBlock(inflate.decompress(deflate.compress(encodeHeaderBlock(h)))),
      h,
    );
  }
  assert.throws(() => decodeHeaderBlock(new Uint8Array([0, 0, 0, 1, 0, 0, 0, 9])), /truncated/);
  assert.throws(() => new HeaderInflater().decompress(new Uint8Array([1, 2, 3, 4])));
});

Deno.test("resize messages: concatenated JSON, split anywhere, bad ones dropped", async () => {
  const text = '{"Width":80,"Height":24}\n{"Width":0,"Height":1}\nnot json{"Width":1,' +
    '"Height":2}\n{"Width":200,"Height":50}\n';
  const bytes = new TextEncoder().encode(text);
  const source = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.subarray(i, i + 7));
      c.close();
    },
  });
  const sizes: TerminalSize[] = [];
  for await (const s of resizeEvents(source)) sizes.push(s);
  assert.deepEqual(sizes, [
    { width: 80, height: 24 },
    { width: 1, height: 2 },
    { width: 200, height: 50 },
  ]);
});
