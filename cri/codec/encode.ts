/**
 * Plain object → protobuf bytes over a MessagePlan, with the meaning protobufjs gives
 * `Type.encode(Type.fromObject(value))` (so the bytes are the same; `codec_test.ts` checks):
 * enums by name or number, 64-bit integers as numbers, decimal strings or Long-likes, proto3
 * defaults left out, a wrong shape refused with the TypeError protobufjs throws.
 *
 * Two passes: the first sizes every message, string and packed run (in the order the second
 * meets them), the second writes into one array of exactly that size, after `reserve` bytes
 * the caller fills (the gRPC message prefix).
 */
import protobuf from "protobufjs";
import { type FieldPlan, Kind, type MessagePlan } from "./plan.ts";

interface LongLike {
  low: number;
  high: number;
}
const Long = protobuf.util.Long as unknown as
  | { fromValue(value: unknown, unsigned: boolean): LongLike }
  | undefined;
if (!Long) throw new Error("protobufjs was loaded without long.js");
const base64 = protobuf.util.base64;

/** Lengths the size pass found, consumed in the same order by the write pass. */
let lengths: number[] = [];
let next = 0;
let buf: Uint8Array = new Uint8Array(0);
let pos = 0;
/** The last 64-bit value normalised (two's complement halves). */
let lo = 0;
let hi = 0;

export function encodeMessage(plan: MessagePlan, value: unknown, reserve = 0): Uint8Array {
  if (!isObject(value)) throw new TypeError(`${plan.fullName}: object expected`);
  lengths = [];
  const size = sizeMessage(plan, value);
  const out = new Uint8Array(reserve + size);
  buf = out;
  pos = reserve;
  next = 0;
  writeMessage(plan, value);
  buf = new Uint8Array(0);
  lengths = [];
  return out;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return !!v && typeof v === "object";
}

// ---------------------------------------------------------------------------------------
// Normalising a value as fromObject would: undefined means "not written".

function singular(f: FieldPlan, v: unknown): unknown {
  switch (f.kind) {
    case Kind.String: {
      if (v == null || v === "") return undefined;
      const s = typeof v === "string" ? v : String(v);
      return s === "" ? undefined : s;
    }
    case Kind.Bool:
      return v ? true : undefined;
    case Kind.Double:
    case Kind.Float: {
      if (v == null) return undefined;
      const n = Number(v);
      return Object.is(n, 0) ? undefined : n;
    }
    // fromObject skips a value whose Number() is 0 and encode one that converts to 0; the
    // second includes the first.
    case Kind.Int32:
      return v == null || ((v as number) | 0) === 0 ? undefined : (v as number) | 0;
    case Kind.Uint32:
      return v == null || (v as number) >>> 0 === 0 ? undefined : (v as number) >>> 0;
    case Kind.Int64:
    case Kind.Uint64: {
      if (v == null) return undefined;
      if (
        typeof v === "object" ? !((v as LongLike).low || (v as LongLike).high) : Number(v) === 0
      ) {
        return undefined;
      }
      toBits(v, f.kind === Kind.Uint64);
      return lo === 0 && hi === 0 ? undefined : v;
    }
    case Kind.Bytes:
      return v == null || !(v as ArrayLike<number>).length ? undefined : bytesOf(f, v, true);
    case Kind.Enum: {
      // The default, given as its number or its name, is left out like an unknown name.
      const n = enumNumber(f, v);
      return n === undefined || n === f.enumDefault ? undefined : n;
    }
    case Kind.Message:
      if (v == null) return undefined;
      if (!isObject(v)) throw new TypeError(`${f.fullName}: object expected`);
      return v;
  }
}

/** One element of a repeated field; undefined drops it (an unknown enum name). */
function element(f: FieldPlan, v: unknown): unknown {
  switch (f.kind) {
    case Kind.String:
      return String(v);
    case Kind.Bool:
      return Boolean(v);
    case Kind.Double:
    case Kind.Float:
      return Number(v);
    case Kind.Int32:
      return (v as number) | 0;
    case Kind.Uint32:
      return (v as number) >>> 0;
    case Kind.Int64:
    case Kind.Uint64:
      toBits(v, f.kind === Kind.Uint64);
      return v;
    case Kind.Bytes:
      return bytesOf(f, v, false);
    case Kind.Enum:
      return enumNumber(f, v);
    case Kind.Message:
      if (!isObject(v)) throw new TypeError(`${f.fullName}: object expected`);
      return v;
  }
}

function enumNumber(f: FieldPlan, v: unknown): number | undefined {
  if (typeof v === "string") return f.enumByName!.get(v);
  if (typeof v === "number" && (v | 0) === v) return v;
  return undefined;
}

/** Bytes as given (a Uint8Array or array of numbers) or decoded from base64. */
function bytesOf(f: FieldPlan, v: unknown, dropEmpty: boolean): ArrayLike<number> | undefined {
  if (typeof v === "string") {
    const out = new Uint8Array(base64.length(v));
    base64.decode(v, out, 0);
    return dropEmpty && out.length === 0 ? undefined : out;
  }
  if (v != null && (v as ArrayLike<number>).length >= 0) return v as ArrayLike<number>;
  throw new TypeError(`${f.fullName}: buffer expected`);
}

const DECIMAL = /^-?\d{1,20}$/;

/**
 * Sets lo/hi to a 64-bit integer's halves, as Long.fromValue reads it (decimal strings such
 * as nanosecond timestamps without Long's chunked arithmetic: the same bits modulo 2^64).
 */
function toBits(v: unknown, unsigned: boolean): void {
  let n: number | undefined;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && v.length <= 21 && DECIMAL.test(v)) {
    if (v.length <= 15) n = Number(v);
    else {
      const bits = BigInt.asUintN(64, BigInt(v));
      lo = Number(bits & 0xffffffffn);
      hi = Number(bits >> 32n);
      return;
    }
  }
  if (n !== undefined && Number.isSafeInteger(n) && (n >= 0 || !unsigned)) {
    const abs = n < 0 ? -n : n;
    lo = abs >>> 0;
    hi = ((abs - lo) / 4294967296) >>> 0;
    if (n < 0) {
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
      if (++lo > 0xffffffff) {
        lo = 0;
        hi = (hi + 1) >>> 0;
      }
    }
    return;
  }
  const long = Long!.fromValue(v, unsigned);
  lo = long.low >>> 0;
  hi = long.high >>> 0;
}

// ---------------------------------------------------------------------------------------
// Pass one: sizes.

function sizeMessage(plan: MessagePlan, obj: Obj): number {
  let size = 0;
  for (const f of plan.fields) {
    const v = obj[f.name];
    if (f.map) {
      if (v) size += sizeMap(f, v);
    } else if (f.repeated) {
      if (v) size += sizeRepeated(f, v);
    } else {
      const n = singular(f, v);
      if (n !== undefined) size += varintSize(f.tag) + sizeValue(f, n);
    }
  }
  return size;
}

/** One value's bytes after its tag (with its length, for delimited kinds). */
function sizeValue(f: FieldPlan, v: unknown): number {
  switch (f.kind) {
    case Kind.String: {
      const n = utf8Length(v as string);
      lengths.push(n);
      return varintSize(n) + n;
    }
    case Kind.Bytes: {
      const n = (v as ArrayLike<number>).length;
      return varintSize(n) + n;
    }
    case Kind.Message: {
      const at = lengths.length;
      lengths.push(0);
      const n = sizeMessage(f.message!, v as Obj);
      lengths[at] = n;
      return varintSize(n) + n;
    }
    default:
      return scalarSize(f.kind, v);
  }
}

/** A varint or fixed scalar's bytes (int64s: of the lo/hi just set by toBits). */
function scalarSize(kind: Kind, v: unknown): number {
  switch (kind) {
    case Kind.Double:
      return 8;
    case Kind.Float:
      return 4;
    case Kind.Bool:
      return 1;
    case Kind.Int64:
    case Kind.Uint64:
      return varint64Size(lo, hi);
    case Kind.Int32:
    case Kind.Enum:
      return (v as number) < 0 ? 10 : varintSize(v as number);
    default:
      return varintSize(v as number);
  }
}

function sizeRepeated(f: FieldPlan, v: unknown): number {
  if (!Array.isArray(v)) throw new TypeError(`${f.fullName}: array expected`);
  if (f.packed) {
    let n = 0;
    for (const e of v) {
      const x = element(f, e);
      if (x !== undefined) n += scalarSize(f.kind, x);
    }
    if (n === 0) return 0;
    lengths.push(n);
    return varintSize(f.tag) + varintSize(n) + n;
  }
  let size = 0;
  for (const e of v) {
    const x = element(f, e);
    if (x !== undefined) size += varintSize(f.tag) + sizeValue(f, x);
  }
  return size;
}

function sizeMap(f: FieldPlan, v: unknown): number {
  if (!isObject(v)) throw new TypeError(`${f.fullName}: object expected`);
  let size = 0;
  for (const key of Object.keys(v)) {
    const k = utf8Length(key);
    const val = utf8Length(String(v[key]));
    const entry = 1 + varintSize(k) + k + 1 + varintSize(val) + val;
    lengths.push(entry, k, val);
    size += varintSize(f.tag) + varintSize(entry) + entry;
  }
  return size;
}

// ---------------------------------------------------------------------------------------
// Pass two: bytes.

function writeMessage(plan: MessagePlan, obj: Obj): void {
  for (const f of plan.fields) {
    const v = obj[f.name];
    if (f.map) {
      if (v) writeMap(f, v as Obj);
    } else if (f.repeated) {
      if (v) writeRepeated(f, v as unknown[]);
    } else {
      const n = singular(f, v);
      if (n !== undefined) {
        writeVarint(f.tag);
        writeValue(f, n);
      }
    }
  }
}

function writeValue(f: FieldPlan, v: unknown): void {
  switch (f.kind) {
    case Kind.String:
      return writeString(v as string);
    case Kind.Bytes: {
      const b = v as ArrayLike<number>;
      writeVarint(b.length);
      buf.set(b, pos);
      pos += b.length;
      return;
    }
    case Kind.Message:
      writeVarint(lengths[next++]);
      return writeMessage(f.message!, v as Obj);
    default:
      return writeScalar(f.kind, v);
  }
}

const fixedBytes = new Uint8Array(8);
const fixed = new DataView(fixedBytes.buffer);

function writeScalar(kind: Kind, v: unknown): void {
  switch (kind) {
    case Kind.Double:
      fixed.setFloat64(0, v as number, true);
      return writeFixed(8);
    case Kind.Float:
      fixed.setFloat32(0, v as number, true);
      return writeFixed(4);
    case Kind.Bool:
      buf[pos++] = v ? 1 : 0;
      return;
    case Kind.Int64:
    case Kind.Uint64:
      toBits(v, kind === Kind.Uint64);
      return writeVarint64(lo, hi);
    case Kind.Int32:
    case Kind.Enum:
      if ((v as number) < 0) return writeVarint64(v as number >>> 0, 0xffffffff);
      return writeVarint(v as number);
    default:
      return writeVarint(v as number);
  }
}

function writeFixed(n: number): void {
  for (let i = 0; i < n; i++) buf[pos++] = fixedBytes[i];
}

function writeRepeated(f: FieldPlan, v: unknown[]): void {
  if (f.packed) {
    let any = false;
    for (const e of v) if (element(f, e) !== undefined) any = true;
    if (!any) return;
    writeVarint(f.tag);
    writeVarint(lengths[next++]);
    for (const e of v) {
      const x = element(f, e);
      if (x !== undefined) writeScalar(f.kind, x);
    }
    return;
  }
  for (const e of v) {
    const x = element(f, e);
    if (x === undefined) continue;
    writeVarint(f.tag);
    writeValue(f, x);
  }
}

function writeMap(f: FieldPlan, v: Obj): void {
  for (const key of Object.keys(v)) {
    writeVarint(f.tag);
    writeVarint(lengths[next++]);
    buf[pos++] = 0x0a; // key: field 1, delimited
    writeStringBody(key, lengths[next++]);
    buf[pos++] = 0x12; // value: field 2, delimited
    writeStringBody(String(v[key]), lengths[next++]);
  }
}

function writeString(s: string): void {
  writeStringBody(s, lengths[next++]);
}

const utf8 = new TextEncoder();

function writeStringBody(s: string, byteLength: number): void {
  writeVarint(byteLength);
  if (byteLength === s.length) {
    for (let i = 0; i < byteLength; i++) buf[pos + i] = s.charCodeAt(i);
  } else {
    utf8.encodeInto(s, buf.subarray(pos, pos + byteLength));
  }
  pos += byteLength;
}

// ---------------------------------------------------------------------------------------
// Varints and UTF-8 lengths.

export function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function varint64Size(l: number, h: number): number {
  if (h === 0) return varintSize(l);
  const mid = ((l >>> 28) | (h << 4)) >>> 0;
  const top = h >>> 24;
  if (top === 0) return mid < 0x4000 ? (mid < 0x80 ? 5 : 6) : mid < 0x200000 ? 7 : 8;
  return top < 0x80 ? 9 : 10;
}

function writeVarint(v: number): void {
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
}

function writeVarint64(l: number, h: number): void {
  while (h) {
    buf[pos++] = (l & 0x7f) | 0x80;
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
  }
  writeVarint(l);
}

/** UTF-8 bytes of `s` (a lone surrogate counts 3, as it is written as U+FFFD). */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
