/** Reading a request: query parameters, JSON bodies and who sent it (for the audit log). */
import type { Context } from "hono";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { AuditEntry } from "../audit.ts";

/** `label=k=v` (repeatable) → a CRI label selector. */
export function labelSelector(c: Context): Record<string, string> {
  return parseLabels(c.req.queries("label") ?? []);
}

export function parseLabels(labels: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const i = l.indexOf("=");
    if (i <= 0) throw new InvalidArgumentError(`label ${JSON.stringify(l)}: expected key=value`);
    out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

/** `?state=`: a word of `table` (any case) or one of its CRI literals; undefined when absent. */
export function stateParam<T extends string>(
  c: Context,
  table: Readonly<Record<string, T>>,
  what: string,
): T | undefined {
  return parseState(c.req.query("state"), table, what);
}

export function parseState<T extends string>(
  v: string | undefined,
  table: Readonly<Record<string, T>>,
  what: string,
): T | undefined {
  if (v === undefined || v === "") return undefined;
  const s = table[v.toLowerCase()] ?? (Object.values(table).includes(v as T) ? v as T : undefined);
  if (!s) {
    throw new InvalidArgumentError(
      `state ${JSON.stringify(v)}: expected one of ${Object.keys(table).join(", ")} (${what})`,
    );
  }
  return s;
}

export function intParam(c: Context, name: string, min = 0): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new InvalidArgumentError(`${name} ${JSON.stringify(v)}: expected an integer >= ${min}`);
  }
  return n;
}

/** Present and not "0" or "false". */
export function boolParam(c: Context, name: string): boolean {
  const v = c.req.query(name);
  return v !== undefined && v !== "0" && v !== "false";
}

export async function jsonBody<T>(c: Context): Promise<T> {
  try {
    return await c.req.json<T>();
  } catch {
    throw new InvalidArgumentError("the request body must be a JSON object");
  }
}

/** The peer's address: Hono's env is an AdminEnv (or Deno.serve's ServeHandlerInfo). */
export function remoteOf(c: Context): string {
  const addr = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr;
  return addr ? `${addr.hostname}:${addr.port}` : "unknown";
}

/** An audit entry completed with who asked and with what client. */
export function audited(c: Context, entry: Omit<AuditEntry, "remote" | "userAgent">): AuditEntry {
  return { ...entry, remote: remoteOf(c), userAgent: c.req.header("user-agent") ?? "" };
}
