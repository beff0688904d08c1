/**
 * A message type's fields as the codec walks them, built once from protobufjs's reflection
 * of `cri/api.proto`. protobufjs generates code per message type; each CRI type is encoded a
 * few times a second at most, so V8 never optimises that code and a reply costs ~100 µs in
 * its slow tiers. One shared walker over these plans is run by every call and stays fast.
 *
 * Only what proto3 CRI uses is planned: scalars, open enums, messages, repeated fields and
 * map<string, string>. A type with anything else (oneofs, groups, proto2 presence, other
 * map kinds, closed enums) gets no plan, and its codec stays protobufjs's.
 */
import protobuf from "protobufjs";

export const enum Kind {
  Double,
  Float,
  Int32,
  Uint32,
  Int64,
  Uint64,
  Bool,
  String,
  Bytes,
  Enum,
  Message,
}

/** Wire types (the low three bits of a tag). */
export const enum Wire {
  Varint = 0,
  Fixed64 = 1,
  Delimited = 2,
  Fixed32 = 5,
}

export interface FieldPlan {
  readonly name: string;
  /** `runtime.v1.Type.field`, for the errors protobufjs would give. */
  readonly fullName: string;
  readonly id: number;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** map<string, string> (the only map CRI has). */
  readonly map: boolean;
  /** Repeated numbers written as one length-delimited run. */
  readonly packed: boolean;
  /** The tag of one value (packed runs and messages use Delimited). */
  readonly tag: number;
  /** The wire type one value of this kind is read with. */
  readonly wire: Wire;
  /** Resolved after the whole plan is built (message types may refer to each other). */
  message: MessagePlan | undefined;
  readonly enumByName: ReadonlyMap<string, number> | undefined;
  readonly enumById: ReadonlyMap<number, string> | undefined;
  readonly enumDefault: number;
}

export interface MessagePlan {
  readonly fullName: string;
  /** Fields by number, the order they are written in. */
  readonly fields: readonly FieldPlan[];
  readonly byNumber: ReadonlyMap<number, FieldPlan>;
  /**
   * The fields in the order protobufjs's toObject creates their keys (repeated, then maps,
   * then the rest, each by number), so decoded objects look the same, key order and all.
   */
  readonly objectOrder: readonly FieldPlan[];
}

const SCALARS: Record<string, Kind> = {
  double: Kind.Double,
  float: Kind.Float,
  int32: Kind.Int32,
  uint32: Kind.Uint32,
  int64: Kind.Int64,
  uint64: Kind.Uint64,
  bool: Kind.Bool,
  string: Kind.String,
  bytes: Kind.Bytes,
};

export function wireOf(kind: Kind): Wire {
  switch (kind) {
    case Kind.Double:
      return Wire.Fixed64;
    case Kind.Float:
      return Wire.Fixed32;
    case Kind.String:
    case Kind.Bytes:
    case Kind.Message:
      return Wire.Delimited;
    default:
      return Wire.Varint;
  }
}

const plans = new WeakMap<protobuf.Type, MessagePlan | null>();

/** The plan for `type`, or undefined when it (or a type it holds) needs protobufjs. */
export function planFor(type: protobuf.Type): MessagePlan | undefined {
  const pending = new Map<protobuf.Type, MessagePlan>();
  const plan = build(type, pending);
  // Every plan still pending is complete once the root is (a failure anywhere fails the root).
  if (plan) { for (const [t, p] of pending) plans.set(t, p); }
  return plan ?? undefined;
}

function build(type: protobuf.Type, pending: Map<protobuf.Type, MessagePlan>): MessagePlan | null {
  if (plans.has(type)) return plans.get(type)!;
  const building = pending.get(type);
  if (building) return building;
  if (type.oneofsArray.length > 0) return remember(type, null);
  const fields: FieldPlan[] = [];
  const plan: MessagePlan = {
    fullName: type.fullName.replace(/^\./, ""),
    fields,
    byNumber: new Map(),
    objectOrder: [],
  };
  pending.set(type, plan);
  for (const f of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const field = fieldPlan(f, plan.fullName);
    if (!field) return remember(type, null);
    if (field.kind === Kind.Message) {
      field.message = build(f.resolvedType as protobuf.Type, pending) ?? undefined;
      if (!field.message) return remember(type, null);
    }
    fields.push(field);
    (plan.byNumber as Map<number, FieldPlan>).set(field.id, field);
  }
  (plan.objectOrder as FieldPlan[]).push(
    ...fields.filter((f) => f.repeated),
    ...fields.filter((f) => f.map),
    ...fields.filter((f) => !f.repeated && !f.map),
  );
  return plan;
}

function remember(type: protobuf.Type, plan: null): null {
  plans.set(type, plan);
  return plan;
}

/** One field's plan; null for what the codec leaves to protobufjs. */
function fieldPlan(f: protobuf.Field, typeName: string): FieldPlan | null {
  f.resolve();
  const features = (f as unknown as { _features?: Record<string, string> })._features ?? {};
  if (f.required || f.partOf || f.delimited) return null;
  if (features.utf8_validation !== "VERIFY") return null;
  const map = f instanceof protobuf.MapField;
  if (map && ((f as protobuf.MapField).keyType !== "string" || f.type !== "string")) return null;
  let kind: Kind;
  let enumType: protobuf.Enum | undefined;
  if (f.resolvedType instanceof protobuf.Enum) {
    enumType = f.resolvedType;
    const enumFeatures = (enumType as unknown as { _features?: Record<string, string> })._features;
    if (enumFeatures?.enum_type === "CLOSED") return null;
    kind = Kind.Enum;
  } else if (f.resolvedType instanceof protobuf.Type) {
    kind = Kind.Message;
  } else if (f.type in SCALARS) {
    kind = SCALARS[f.type];
    if (f.hasPresence && !f.repeated && !map) return null;
  } else {
    return null;
  }
  const repeated = f.repeated && !map;
  const packed = repeated && f.packed && wireOf(kind) !== Wire.Delimited;
  const wire = map ? Wire.Delimited : wireOf(kind);
  return {
    name: f.name,
    fullName: `${typeName}.${f.name}`,
    id: f.id,
    kind,
    repeated,
    map,
    packed,
    tag: ((f.id << 3) | (packed || map ? Wire.Delimited : wire)) >>> 0,
    wire,
    message: undefined,
    enumByName: enumType ? new Map(Object.entries(enumType.values)) : undefined,
    enumById: enumType
      ? new Map(Object.entries(enumType.valuesById).map(([id, name]) => [Number(id), name]))
      : undefined,
    enumDefault: enumType ? (f.typeDefault as number) : 0,
  };
}
