/**
 * Small readers for protobuf values. Decoded wire messages always carry every field (proto3
 * defaults), but in-process callers (admin, tests) may leave any out: these fill in the same
 * defaults the decoder would, so the domain sees one shape either way.
 */
import type { DeepPartial } from "../handler.ts";

/** A message as a caller may give it: any field left out, or the whole message absent. */
export type Given<T> = DeepPartial<T> | null | undefined;

export const str = (v: string | null | undefined): string => v ?? "";
export const num = (v: number | null | undefined): number => v ?? 0;
export const bool = (v: boolean | null | undefined): boolean => v ?? false;

/** 64-bit integers travel as decimal strings; "0" when unset. */
export function int64(v: string | number | bigint | null | undefined): string {
  return v === null || v === undefined || v === "" ? "0" : String(v);
}

export function strings(v: (string | null | undefined)[] | null | undefined): string[] {
  return (v ?? []).map(str);
}

export function stringMap(
  m: { [k: string]: string | null | undefined } | null | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) out[k] = v ?? "";
  return out;
}

/** Each present element of a repeated message field, converted. */
export function each<I, O>(v: (I | null | undefined)[] | null | undefined, f: (i: I) => O): O[] {
  const out: O[] = [];
  for (const i of v ?? []) if (i !== null && i !== undefined) out.push(f(i));
  return out;
}

/** A singular message field, converted; null when absent (as the decoder leaves it). */
export function opt<I, O>(v: I | null | undefined, f: (i: I) => O): O | null {
  return v === null || v === undefined ? null : f(v);
}

/** An enum field: the given name, or the enum's zero value when unset. */
export function enumOr<E extends string>(v: E | null | undefined, zero: E): E {
  return v || zero;
}

/** Nanoseconds since the epoch, as CRI wants timestamps, as a decimal string. */
export function nanos(msOrDate: number | Date): string {
  const ms = msOrDate instanceof Date ? msOrDate.getTime() : msOrDate;
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

/** A record's time (ms) in nanoseconds, or "0" for one that has not happened (0 ms). */
export function nanosOrZero(ms: number): string {
  return ms > 0 ? nanos(ms) : "0";
}

export function u64(v: number | bigint): { value: string } {
  return { value: String(v) };
}
