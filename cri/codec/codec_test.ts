/**
 * The codec against protobufjs, on every message type of `cri/api.proto`: random plain
 * objects (every field kind, defaults, unusual but accepted shapes) must encode to the bytes
 * `encode(fromObject(x))` gives, and bytes (with repeated messages, unknown fields and
 * groups mixed in) must decode to what `toObject(decode(b), TO_OBJECT_OPTIONS)` gives, key
 * order included. Damaged bytes are refused with an Error, never a crash, and whatever both
 * accept decodes alike. Seeded: a failure names its seed.
 */
import assert from "node:assert/strict";
import protobuf from "protobufjs";
import { loadCriRoot, TO_OBJECT_OPTIONS } from "../proto.ts";
import { decodeMessage, encodeMessage, planFor } from "./mod.ts";

const root = loadCriRoot();
const types: protobuf.Type[] = [];
(function collect(ns: protobuf.NamespaceBase) {
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) types.push(o);
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) collect(o);
  }
})(root);

/** A small seeded PRNG (mulberry32): the same seed, the same case. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];

const STRINGS = ["", "a", "busybox:1.36", "é", "日本語", "😀x", "x".repeat(70), "ü".repeat(50)];
const INT64S = [
  0,
  1,
  -1,
  127,
  128,
  2 ** 31,
  -(2 ** 31),
  2 ** 32 + 5,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  "0",
  "42",
  "-42",
  "1764491234123456789",
  "18446744073709551615",
  "-9223372036854775808",
  "9007199254740993",
  "123456789012345678",
  "-1234567890123456789",
  "99999999999999999999",
  "-18446744073709551617",
  1.5,
  2 ** 60,
];
const INT32S = [0, 1, -1, 300, 2 ** 31 - 1, -(2 ** 31), 2 ** 32 - 1, "17", 2.7];
const DOUBLES = [0, -0, 1.5, -2.25, 1e300, Number.NaN, Infinity, "3.5"];

function scalar(r: Rand, f: protobuf.Field): unknown {
  if (f.resolvedType instanceof protobuf.Enum) {
    const names = Object.keys(f.resolvedType.values);
    return pick(r, [...names, ...Object.values(f.resolvedType.values), 77, "NOT_A_NAME", -3]);
  }
  switch (f.type) {
    case "string":
      return pick(r, STRINGS);
    case "bool":
      return pick(r, [true, false, 1, 0]);
    case "int64":
    case "uint64":
      return pick(r, INT64S);
    case "int32":
    case "uint32":
      return pick(r, INT32S);
    case "double":
    case "float":
      return pick(r, DOUBLES);
    case "bytes":
      return pick(r, [new Uint8Array(0), new Uint8Array([1, 2, 255]), "AQID", ""]);
  }
  throw new Error(`no generator for ${f.type}`);
}

function object(r: Rand, type: protobuf.Type, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    const roll = r();
    if (roll < 0.25) continue;
    if (roll < 0.3) {
      out[f.name] = null;
      continue;
    }
    const message = f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
    const one = () => message ? object(r, message, depth + 1) : scalar(r, f);
    if (message && depth > 4) continue;
    if (f.map) {
      const m: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) m[pick(r, STRINGS) + i] = pick(r, STRINGS);
      out[f.name] = m;
    } else if (f.repeated) {
      out[f.name] = Array.from({ length: Math.floor(r() * 4) }, one);
    } else {
      out[f.name] = one();
    }
  }
  return out;
}

const viaProtobufjs = {
  encode: (type: protobuf.Type, v: unknown) =>
    Array.from(type.encode(type.fromObject(v as Record<string, unknown>)).finish()),
  decode: (type: protobuf.Type, b: Uint8Array) =>
    plain(type.toObject(type.decode(b), TO_OBJECT_OPTIONS)),
};

/** Buffers as plain Uint8Arrays, so objects from both sides compare. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

/** Key order too: protobufjs's toObject creates repeated, then map, then other fields. */
function keyOrder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(keyOrder);
  if (v && typeof v === "object" && !(v instanceof Uint8Array)) {
    return Object.entries(v).map(([k, x]) => [k, keyOrder(x)]);
  }
  return null;
}

function assertSameDecode(type: protobuf.Type, bytes: Uint8Array, seed: number): void {
  const plan = planFor(type)!;
  const ours = plain(decodeMessage(plan, bytes));
  const theirs = viaProtobufjs.decode(type, bytes);
  assert.deepStrictEqual(ours, theirs, `${type.name} seed ${seed}`);
  assert.deepStrictEqual(keyOrder(ours), keyOrder(theirs), `${type.name} key order, seed ${seed}`);
}

/** Unknown fields of every wire type. */
const UNKNOWN = [
  0xb8,
  0x3e,
  0x96,
  0x01, // field 999 varint 150
  0xc1,
  0x3e,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8, // field 1000 fixed64
  0xca,
  0x3e,
  2,
  0x68,
  0x69, // field 1001 delimited "hi"
  0xdd,
  0x3e,
  1,
  2,
  3,
  4, // field 1003 fixed32
];
/**
 * An unknown group (field 1002 { field 1 varint 1 }). Not sent to types without fields:
 * protobufjs checks a group's end tag there against the whole tag and refuses it.
 */
const GROUP = [0xd3, 0x3e, 0x08, 0x01, 0xd4, 0x3e];

Deno.test("codec: every CRI message type has a plan", () => {
  const unplanned = types.filter((t) => !planFor(t)).map((t) => t.name);
  assert.deepStrictEqual(unplanned, []);
});

Deno.test("codec: encodes every CRI message type byte for byte as protobufjs", () => {
  for (const type of types) {
    const plan = planFor(type)!;
    for (let seed = 1; seed <= 40; seed++) {
      const value = object(rng(seed * 7919 + type.name.length), type, 0);
      let theirs: number[] | Error;
      try {
        theirs = viaProtobufjs.encode(type, value);
      } catch (err) {
        theirs = err as Error;
      }
      if (theirs instanceof Error) {
        assert.throws(() => encodeMessage(plan, value), theirs.constructor as typeof Error);
        continue;
      }
      assert.deepStrictEqual(
        Array.from(encodeMessage(plan, value)),
        theirs,
        `${type.name} ${seed}`,
      );
    }
  }
});

Deno.test("codec: reserves room for a prefix before the message", () => {
  const type = root.lookupType("runtime.v1.VersionResponse");
  const value = { version: "0.1.0", runtime_name: "skiff" };
  const out = encodeMessage(planFor(type)!, value, 5);
  assert.deepStrictEqual(Array.from(out.subarray(0, 5)), [0, 0, 0, 0, 0]);
  assert.deepStrictEqual(Array.from(out.subarray(5)), viaProtobufjs.encode(type, value));
});

Deno.test("codec: refuses what protobufjs refuses, with its TypeError", () => {
  const plan = planFor(root.lookupType("runtime.v1.PodSandboxConfig"))!;
  assert.throws(() => encodeMessage(plan, { metadata: "x" }), {
    name: "TypeError",
    message: "runtime.v1.PodSandboxConfig.metadata: object expected",
  });
  assert.throws(() => encodeMessage(plan, { labels: 3 }), /labels: object expected/);
  assert.throws(() => encodeMessage(plan, { port_mappings: {} }), /port_mappings: array expected/);
});

Deno.test("codec: decodes every CRI message type as protobufjs, merges and unknowns too", () => {
  for (const type of types) {
    for (let seed = 1; seed <= 25; seed++) {
      const r = rng(seed * 104729 + type.name.length);
      const one = () => type.encode(type.fromObject(object(r, type, 0))).finish();
      const a = one();
      assertSameDecode(type, a, seed);
      // A message sent in two parts merges; unknown fields are skipped wherever they sit.
      const b = one();
      const unknown = type.fieldsArray.length ? [...UNKNOWN, ...GROUP] : UNKNOWN;
      assertSameDecode(type, new Uint8Array([...a, ...unknown, ...b]), seed);
    }
  }
});

Deno.test("codec: damaged bytes are refused with an Error, and what both accept decodes alike", () => {
  const checked = ["PodSandboxConfig", "ContainerConfig", "ContainerStatusResponse"];
  let refused = 0;
  for (const name of checked) {
    const type = root.lookupType(`runtime.v1.${name}`);
    const plan = planFor(type)!;
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const bytes = type.encode(type.fromObject(object(r, type, 0))).finish().slice();
      for (let i = 0; i < 1 + Math.floor(r() * 3); i++) {
        if (bytes.length) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      }
      const cut = r() < 0.3 ? bytes.subarray(0, Math.floor(r() * bytes.length)) : bytes;
      let ours: unknown;
      try {
        ours = plain(decodeMessage(plan, cut));
      } catch (err) {
        assert.ok(err instanceof Error, `${name} seed ${seed}: threw ${err}`);
        refused++;
        continue;
      }
      let theirs: unknown;
      try {
        theirs = viaProtobufjs.decode(type, cut);
      } catch {
        continue; // protobufjs reads some over-long varints differently; ours took them.
      }
      assert.deepStrictEqual(ours, theirs, `${name} seed ${seed}`);
    }
  }
  assert.ok(refused > 50, `only ${refused} damaged messages were refused`);
});

Deno.test("codec: invalid UTF-8 in a string is refused; 64-bit values read exactly", () => {
  const plan = planFor(root.lookupType("runtime.v1.ContainerMetadata"))!;
  assert.throws(() => decodeMessage(plan, new Uint8Array([0x0a, 2, 0xc3, 0x28])), TypeError);
  const stats = root.lookupType("runtime.v1.UInt64Value");
  const value = { value: "18446744073709551615" };
  const bytes = stats.encode(stats.fromObject(value)).finish();
  assert.deepStrictEqual(decodeMessage(planFor(stats)!, bytes), value);
});
