/**
 * protobuf bytes → plain object over a MessagePlan, as protobufjs gives
 * `Type.toObject(Type.decode(bytes), TO_OBJECT_OPTIONS)` (`codec_test.ts` checks): every
 * field present with its default, enums by name (the number when unknown), 64-bit integers
 * as decimal strings, bytes as Uint8Array, strings valid UTF-8 or refused, unknown fields
 * skipped, repeated messages merged; malformed input throws protobufjs's errors.
 */
import { type FieldPlan, Kind, type MessagePlan, Wire } from "./plan.ts";

type Obj = Record<string, unknown>;

/** Nesting (messages and groups) deeper than this is refused, as protobufjs and protoc do. */
const RECURSION_LIMIT = 100;
const EMPTY: Uint8Array = new Uint8Array(0);

let buf = EMPTY;
let pos = 0;
/** The halves of the last 64-bit varint read. */
let lo = 0;
let hi = 0;

export function decodeMessage(plan: MessagePlan, bytes: Uint8Array): Obj {
  buf = bytes;
  pos = 0;
  try {
    return readMessage(plan, bytes.length, 0, null);
  } finally {
    buf = EMPTY;
  }
}

function readMessage(plan: MessagePlan, end: number, depth: number, into: Obj | null): Obj {
  if (depth > RECURSION_LIMIT) throw new Error("max depth exceeded");
  const d = into ?? defaults(plan);
  while (pos < end) {
    const tag = readVarint32(end);
    const wire = tag & 7;
    const f = plan.byNumber.get(tag >>> 3);
    if (f !== undefined && readField(f, d, wire, end, depth)) continue;
    skipField(wire, tag >>> 3, end, depth);
  }
  return d;
}

/** Reads one occurrence of `f` into `d`; false when its wire type does not fit (skipped). */
function readField(f: FieldPlan, d: Obj, wire: number, end: number, depth: number): boolean {
  if (f.map) {
    if (wire !== Wire.Delimited) return false;
    readMapEntry(d[f.name] as Obj, end, depth);
  } else if (f.repeated) {
    const list = d[f.name] as unknown[];
    if (wire === Wire.Delimited && f.wire !== Wire.Delimited) {
      const stop = delimitedEnd(end);
      while (pos < stop) list.push(readValue(f, stop, depth, null));
    } else if (wire === f.wire) {
      list.push(readValue(f, end, depth, null));
    } else {
      return false;
    }
  } else {
    if (wire !== f.wire) return false;
    d[f.name] = readValue(f, end, depth, d[f.name] as Obj | null);
  }
  return true;
}

function defaults(plan: MessagePlan): Obj {
  const d: Obj = {};
  for (const f of plan.objectOrder) d[f.name] = defaultOf(f);
  return d;
}

function defaultOf(f: FieldPlan): unknown {
  if (f.repeated) return [];
  if (f.map) return {};
  switch (f.kind) {
    case Kind.String:
      return "";
    case Kind.Bool:
      return false;
    case Kind.Int64:
    case Kind.Uint64:
      return "0";
    case Kind.Bytes:
      return new Uint8Array(0);
    case Kind.Enum:
      return f.enumById!.get(f.enumDefault) ?? f.enumDefault;
    case Kind.Message:
      return null;
    default:
      return 0;
  }
}

function readValue(f: FieldPlan, end: number, depth: number, into: Obj | null): unknown {
  switch (f.kind) {
    case Kind.String:
      return readString(end);
    case Kind.Bytes: {
      const stop = delimitedEnd(end);
      const out = buf.slice(pos, stop);
      pos = stop;
      return out;
    }
    case Kind.Message:
      return readMessage(f.message!, delimitedEnd(end), depth + 1, into);
    case Kind.Bool:
      return readVarint32(end) !== 0;
    case Kind.Int32:
      return readVarint32(end) | 0;
    case Kind.Uint32:
      return readVarint32(end) >>> 0;
    case Kind.Enum: {
      const n = readVarint32(end) | 0;
      return f.enumById!.get(n) ?? n;
    }
    case Kind.Int64:
      readVarint64(end);
      return int64String(f.kind === Kind.Int64);
    case Kind.Uint64:
      readVarint64(end);
      return int64String(false);
    case Kind.Double:
      readFixed(end, 8);
      return fixed.getFloat64(0, true);
    case Kind.Float:
      readFixed(end, 4);
      return fixed.getFloat32(0, true);
  }
}

function readMapEntry(target: Obj, end: number, depth: number): void {
  const stop = delimitedEnd(end);
  let key = "";
  let value = "";
  while (pos < stop) {
    const tag = readVarint32(stop);
    if (tag === ((1 << 3) | Wire.Delimited)) key = readString(stop);
    else if (tag === ((2 << 3) | Wire.Delimited)) value = readString(stop);
    else skipField(tag & 7, tag >>> 3, stop, depth);
  }
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** Reads a length and returns where the delimited bytes end. */
function delimitedEnd(end: number): number {
  const length = readVarint32(end);
  const stop = pos + length;
  if (stop > end) throw outOfRange(length, end);
  return stop;
}

const strict = new TextDecoder("utf-8", { fatal: true });

function readString(end: number): string {
  const stop = delimitedEnd(end);
  const start = pos;
  pos = stop;
  if (stop - start <= 256) {
    for (let i = start; i < stop; i++) {
      if (buf[i] & 0x80) return strict.decode(buf.subarray(start, stop));
    }
    // ASCII: one string made at once (a char-by-char build left garbage behind).
    return String.fromCharCode.apply(null, buf.subarray(start, stop) as unknown as number[]);
  }
  return strict.decode(buf.subarray(start, stop));
}

const fixedBytes = new Uint8Array(8);
const fixed = new DataView(fixedBytes.buffer);

/** Copies the next `n` bytes into `fixed`. */
function readFixed(end: number, n: number): void {
  if (pos + n > end) throw outOfRange(n, end);
  for (let i = 0; i < n; i++) fixedBytes[i] = buf[pos + i];
  pos += n;
}

/** A varint's low 32 bits (a 10-byte negative int32 included). */
function readVarint32(end: number): number {
  let value = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    if (pos >= end) throw outOfRange(1, end);
    const b = buf[pos++];
    if (shift < 32) value |= (b & 0x7f) << shift;
    if (b < 0x80) return value >>> 0;
  }
  throw new Error("invalid varint encoding");
}

function readVarint64(end: number): void {
  let l = 0;
  let h = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw outOfRange(1, end);
    const b = buf[pos++];
    if (i < 4) l |= (b & 0x7f) << (i * 7);
    else if (i === 4) {
      l |= (b & 0x0f) << 28;
      h = (b & 0x7f) >> 4;
    } else h |= (b & 0x7f) << (i * 7 - 32);
    if (b < 0x80) {
      lo = l >>> 0;
      hi = h >>> 0;
      return;
    }
  }
  throw new Error("invalid varint encoding");
}

/** lo/hi as a decimal string, as Long.toString gives it. */
function int64String(signed: boolean): string {
  if (hi === 0) return String(lo);
  if (hi < 0x200000) return String(hi * 4294967296 + lo);
  const bits = (BigInt(hi) << 32n) | BigInt(lo);
  return (signed ? BigInt.asIntN(64, bits) : bits).toString();
}

function skipField(wire: number, field: number, end: number, depth: number): void {
  if (depth > RECURSION_LIMIT) throw new Error("max depth exceeded");
  if (field === 0) throw new Error("illegal tag: field number 0");
  switch (wire) {
    case Wire.Varint:
      do {
        if (pos >= end) throw outOfRange(1, end);
      } while (buf[pos++] & 0x80);
      return;
    case Wire.Fixed64:
      return skipBytes(8, end);
    case Wire.Delimited:
      return skipBytes(readVarint32(end), end);
    case 3: // a group: skipped up to its end tag
      for (;;) {
        const tag = readVarint32(end);
        if (tag >>> 3 === 0) throw new Error("illegal tag: field number 0");
        if ((tag & 7) === 4) {
          if (tag >>> 3 !== field) throw new Error("invalid end group tag");
          return;
        }
        skipField(tag & 7, tag >>> 3, end, depth + 1);
      }
    case Wire.Fixed32:
      return skipBytes(4, end);
    default:
      throw new Error(`invalid wire type ${wire} at offset ${pos}`);
  }
}

function skipBytes(n: number, end: number): void {
  if (pos + n > end) throw outOfRange(n, end);
  pos += n;
}

function outOfRange(n: number, end: number): RangeError {
  return new RangeError(`index out of range: ${pos} + ${n} > ${end}`);
}
