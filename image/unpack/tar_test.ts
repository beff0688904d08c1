/**
 * The tar reader on archives built here byte by byte: ustar prefix, PAX (path, size,
 * binary xattrs, global headers), GNU long names and links, base-256 numbers, chunking at
 * every size, and the format errors a corrupt layer must raise.
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { TarFormatError, type TarHeader, TarReader, type TarSink } from "./tar.ts";

const enc = new TextEncoder();

interface Spec {
  name: string;
  flag?: string;
  body?: Uint8Array;
  linkname?: string;
  uid?: number;
  prefix?: string;
  /** Size field override (PAX `size` entries write 0 here). */
  size?: number;
  base256Uid?: boolean;
}

function octal(h: Uint8Array, off: number, len: number, v: number): void {
  h.set(enc.encode(v.toString(8).padStart(len - 1, "0")), off);
}

function header(s: Spec): Uint8Array {
  const h = new Uint8Array(512);
  h.set(enc.encode(s.name), 0);
  octal(h, 100, 8, 0o644);
  if (s.base256Uid) {
    // GNU base-256: top bit set, then big-endian.
    h[108] = 0x80;
    for (let i = 0, v = s.uid!; i < 7; i++, v = Math.floor(v / 256)) h[115 - i] = v % 256;
  } else octal(h, 108, 8, s.uid ?? 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, s.size ?? s.body?.length ?? 0);
  octal(h, 136, 12, 1_700_000_000);
  h[156] = (s.flag ?? "0").charCodeAt(0);
  if (s.linkname) h.set(enc.encode(s.linkname), 157);
  h.set(enc.encode("ustar\u000000"), 257);
  if (s.prefix) h.set(enc.encode(s.prefix), 345);
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, c) => a + c, 0);
  h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\u0000 "), 148);
  return h;
}

function entry(s: Spec): Uint8Array[] {
  const body = s.body ?? new Uint8Array(0);
  const pad = new Uint8Array((512 - (body.length % 512)) % 512);
  return [header(s), body, pad];
}

/** One PAX record: "<len> key=value\n", len counting itself. */
function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const rest = 1 + key.length + 1 + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len++;
  return concat([enc.encode(`${len} ${key}=`), value, enc.encode("\n")]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function archive(...entries: Uint8Array[][]): Uint8Array {
  return concat([...entries.flat(), new Uint8Array(1024)]);
}

interface Read {
  header: TarHeader;
  body: string;
}

function read(bytes: Uint8Array, chunk = bytes.length): Read[] {
  const out: Read[] = [];
  const dec = new TextDecoder();
  const sink: TarSink = {
    entry: (h) => out.push({ header: h, body: "" }),
    data: (c) => out[out.length - 1].body += dec.decode(c),
    entryEnd: () => {},
  };
  const reader = new TarReader(sink);
  for (let off = 0; off < bytes.length; off += chunk) {
    reader.push(bytes.subarray(off, off + chunk));
  }
  reader.finish();
  return out;
}

const capability = new Uint8Array([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0x0a, 0, 0, 0, 0]);
const longName = `${"d".repeat(120)}/${"f".repeat(80)}`;
const sample = archive(
  entry({ name: "etc/", flag: "5" }),
  entry({ name: "hosts", prefix: "etc", body: enc.encode("127.0.0.1 localhost\n") }),
  entry({
    name: "PaxHeaders/bin",
    flag: "x",
    body: concat([
      paxRecord("path", enc.encode("bin/ping")),
      paxRecord("SCHILY.xattr.security.capability", capability),
    ]),
  }),
  entry({ name: "ignored", body: enc.encode("x".repeat(700)) }),
  entry({ name: "././@LongLink", flag: "L", body: enc.encode(longName + "\0") }),
  entry({ name: "short", flag: "2", linkname: "hosts" }),
  entry({ name: "big-uid", base256Uid: true, uid: 70000 }),
);

Deno.test("tar: ustar prefix, PAX path and binary xattrs, GNU long names, base-256", () => {
  const entries = read(sample);
  assertEquals(entries.map((e) => [e.header.path, e.header.kind]), [
    ["etc/", "dir"],
    ["etc/hosts", "file"],
    ["bin/ping", "file"],
    [longName, "symlink"],
    ["big-uid", "file"],
  ]);
  assertEquals(entries[1].body, "127.0.0.1 localhost\n");
  assertEquals(entries[2].body.length, 700);
  // The xattr keeps its NUL bytes (npm:tar would cut it at the first one).
  assertEquals(entries[2].header.xattrs.get("security.capability"), capability);
  assertEquals(entries[3].header.linkname, "hosts");
  assertEquals(entries[4].header.uid, 70000);
  assertEquals(entries[1].header.mtime, 1_700_000_000);
  assertEquals(entries[1].header.mode, 0o644);
});

Deno.test("tar: a push paused at an entry boundary resumes where it stopped", () => {
  const whole = read(sample);
  const out: Read[] = [];
  const dec = new TextDecoder();
  const reader = new TarReader({
    entry: (h) => out.push({ header: h, body: "" }),
    data: (c) => out[out.length - 1].body += dec.decode(c),
    entryEnd: () => {},
  });
  let pushes = 0;
  for (let off = 0; off < sample.length; pushes++) {
    const before = out.length;
    // A deadline already past: each push stops at the first entry boundary after its start.
    const n = reader.push(sample.subarray(off), 0);
    assert.ok(n > 0, "a push always makes progress");
    assert.ok(out.length - before <= 1, "no more than one entry per paused push");
    off += n;
  }
  reader.finish();
  assertEquals(out, whole);
  assert.ok(pushes > whole.length, `${pushes} pushes for ${whole.length} entries`);
});

Deno.test("tar: any chunking gives the same entries", () => {
  const whole = read(sample);
  for (const size of [1, 7, 511, 512, 513, 4096]) {
    assertEquals(read(sample, size), whole, `${size}`);
  }
});

Deno.test("tar: a global PAX header applies to later entries, without its xattrs", () => {
  const bytes = archive(
    entry({
      name: "global",
      flag: "g",
      body: concat([
        paxRecord("uid", enc.encode("4242")),
        paxRecord("SCHILY.xattr.user.x", enc.encode("y")),
      ]),
    }),
    entry({ name: "a" }),
    entry({ name: "b" }),
  );
  const entries = read(bytes);
  assertEquals(entries.map((e) => e.header.uid), [4242, 4242]);
  assertEquals(entries.map((e) => e.header.xattrs.size), [0, 0]);
});

Deno.test("tar: corrupt or truncated archives are TarFormatErrors", () => {
  const bad = sample.slice();
  bad[600] ^= 0xff; // inside the second header: its checksum no longer matches
  assert.throws(() => read(bad), (e) => e instanceof TarFormatError && /checksum/.test(e.message));
  const cut = sample.subarray(0, 512 * 3 + 100);
  assert.throws(() => read(cut), (e) => e instanceof TarFormatError && /middle/.test(e.message));
  const badPax = archive(entry({ name: "p", flag: "x", body: enc.encode("99 path=x\n") }));
  assert.throws(() => read(badPax), (e) => e instanceof TarFormatError && /PAX/.test(e.message));
  // Missing end-of-archive blocks at an entry boundary is a clean end.
  assertEquals(read(concat(entry({ name: "a", body: enc.encode("z") }))).length, 1);
});
