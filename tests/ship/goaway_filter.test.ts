/** The front drops the server's GOAWAY (which can abort a Deno client) and nothing else. */
import assert from "node:assert/strict";
import { ServerGoawayFilter } from "../../cri/compat/authority_front.ts";

function frame(type: number, streamId: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(9 + payload.length);
  f[0] = payload.length >> 16;
  f[1] = (payload.length >> 8) & 0xff;
  f[2] = payload.length & 0xff;
  f[3] = type;
  f[5] = (streamId >> 24) & 0x7f;
  f[6] = (streamId >> 16) & 0xff;
  f[7] = (streamId >> 8) & 0xff;
  f[8] = streamId & 0xff;
  f.set(payload, 9);
  return f;
}

const cat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

Deno.test("goaway filter: drops stream-0 GOAWAY frames, passes every other byte, at any chunking", () => {
  const settings = frame(0x4, 0, new Uint8Array(12).fill(1));
  const headers = frame(0x1, 1, new Uint8Array(40).fill(2));
  const data = frame(0x0, 1, new Uint8Array(70000 % 16384).fill(3));
  const goaway = frame(0x7, 0, new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0]));
  const ping = frame(0x6, 0, new Uint8Array(8).fill(4));
  const stream = cat([settings, headers, goaway, data, goaway, ping]);
  const expected = cat([settings, headers, data, ping]);
  for (const size of [1, 2, 5, 9, 10, 17, 64, 1000, stream.length]) {
    const f = new ServerGoawayFilter();
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) {
      out.push(...f.push(stream.subarray(i, i + size)).map((p) => p.slice()));
    }
    assert.deepEqual(cat(out), expected, `chunk size ${size}`);
    assert.equal(f.goawaysDropped, 2);
  }
});
