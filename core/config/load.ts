/**
 * Loading the configuration: defaults from the schema, the TOML file merged over them, and
 * validation (unknown keys and bad values fail naming the key, the file and what is allowed).
 */
import { parse as parseToml } from "smol-toml";
import { InvalidArgumentError } from "../errors.ts";
import {
  type Config,
  CONFIG_SCHEMA,
  DEFAULT_CONFIG_PATH,
  describe,
  type EntrySpec,
  type FieldSpec,
  isField,
  isMap,
  type SectionSpec,
  type SectionValue,
} from "./schema.ts";

// ---------------------------------------------------------------------------------------
// Defaults

type Value = string | number | boolean | string[];

function fieldDefault(f: FieldSpec): Value {
  const d = f.default;
  return typeof d === "object" ? [...d] : d;
}

export function entryDefaults(entry: EntrySpec): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const [k, f] of Object.entries(entry)) out[k] = fieldDefault(f);
  return out;
}

function sectionDefaults<S extends SectionSpec>(spec: S): SectionValue<S> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(spec.fields)) {
    if (isField(s)) out[k] = fieldDefault(s);
    else if (isMap(s)) {
      const m: Record<string, unknown> = {};
      for (const [name, vals] of Object.entries(s.default)) {
        m[name] = { ...entryDefaults(s.entry), ...structuredClone(vals) };
      }
      out[k] = m;
    } else out[k] = sectionDefaults(s);
  }
  // Built key by key from the very spec the type is derived from.
  return out as SectionValue<S>;
}

export function defaultConfig(): Config {
  return sectionDefaults(CONFIG_SCHEMA);
}

// ---------------------------------------------------------------------------------------
// Validation

export class ConfigError extends InvalidArgumentError {}

function checkField(f: FieldSpec, v: unknown, where: () => string): Value {
  const bad = () =>
    new ConfigError(`${where()}: ${JSON.stringify(v)} is not allowed; expected ${describe(f)}`);
  switch (f.type) {
    case "string":
      if (typeof v !== "string") throw bad();
      if (f.values && !f.values.includes(v)) throw bad();
      return v;
    case "int": {
      const n = typeof v === "bigint" ? Number(v) : v;
      if (typeof n !== "number" || !Number.isInteger(n)) throw bad();
      if (f.min !== undefined && n < f.min) throw bad();
      return n;
    }
    case "bool":
      if (typeof v !== "boolean") throw bad();
      return v;
    case "string[]":
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw bad();
      return [...v];
  }
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function mergeEntry(
  entry: EntrySpec,
  value: unknown,
  path: string,
  file: string,
): Record<string, Value> {
  if (!isTable(value)) throw new ConfigError(`${file}: key "${path}" must be a table`);
  const out = entryDefaults(entry);
  for (const [k, v] of Object.entries(value)) {
    const f = entry[k];
    if (!f) {
      throw new ConfigError(
        `${file}: unknown key "${path}.${k}"; allowed here: ${Object.keys(entry).join(", ")}`,
      );
    }
    out[k] = checkField(f, v, () => `${file}: key "${path}.${k}"`);
  }
  return out;
}

function mergeSection(
  spec: SectionSpec,
  target: Record<string, unknown>,
  value: Record<string, unknown>,
  prefix: string,
  file: string,
): void {
  for (const [k, v] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const s = spec.fields[k];
    if (!s) {
      throw new ConfigError(
        `${file}: unknown key "${path}"; allowed ${prefix ? `in [${prefix}]` : "at top level"}: ${
          Object.keys(spec.fields).join(", ")
        }`,
      );
    }
    if (isField(s)) {
      target[k] = checkField(s, v, () => `${file}: key "${path}"`);
    } else if (isMap(s)) {
      if (!isTable(v)) throw new ConfigError(`${file}: key "${path}" must be a table`);
      // A map given in the file replaces the default entries entirely.
      const m: Record<string, unknown> = {};
      for (const [name, entryValue] of Object.entries(v)) {
        m[name] = mergeEntry(s.entry, entryValue, `${path}.${name}`, file);
      }
      target[k] = m;
    } else {
      if (!isTable(v)) throw new ConfigError(`${file}: key "${path}" must be a table`);
      mergeSection(s, target[k] as Record<string, unknown>, v, path, file);
    }
  }
}

/** Cross-key rules that a single field's spec cannot express. */
function checkConsistency(c: Config, file: string): void {
  if (!c.runtime.handlers[c.runtime.default_handler]) {
    throw new ConfigError(
      `${file}: key "runtime.default_handler" is "${c.runtime.default_handler}", which is not a ` +
        `configured handler; configured: ${Object.keys(c.runtime.handlers).join(", ") || "none"}`,
    );
  }
  for (
    const [key, addr] of [["streaming.address", c.streaming.address], [
      "admin.address",
      c.admin.address,
    ]] as const
  ) {
    if (key === "admin.address" && addr === "") continue;
    if (!parseHostPort(addr)) {
      throw new ConfigError(
        `${file}: key "${key}": ${JSON.stringify(addr)} is not allowed; expected host:port`,
      );
    }
  }
  for (
    const [key, p] of [["root_dir", c.root_dir], ["state_dir", c.state_dir], [
      "socket",
      c.socket,
    ]] as const
  ) {
    if (!p.startsWith("/")) {
      throw new ConfigError(
        `${file}: key "${key}": ${JSON.stringify(p)} is not allowed; expected an absolute path`,
      );
    }
  }
  if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(c.network.subnet)) {
    throw new ConfigError(
      `${file}: key "network.subnet": ${
        JSON.stringify(c.network.subnet)
      } is not allowed; expected an IPv4 CIDR`,
    );
  }
}

export function parseHostPort(addr: string): { hostname: string; port: number } | null {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(addr);
  if (!m) return null;
  const port = Number(m[2]);
  if (port > 65535) return null;
  return { hostname: m[1].replace(/^\[|\]$/g, ""), port };
}

/** Parses TOML text into a full config (defaults filled in). `file` names the source. */
export function parseConfig(text: string, file = "config"): Config {
  let raw: Record<string, unknown>;
  try {
    raw = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(`${file}: not valid TOML: ${(err as Error).message}`);
  }
  const cfg = defaultConfig();
  mergeSection(CONFIG_SCHEMA, cfg, raw, "", file);
  checkConsistency(cfg, file);
  return cfg;
}

/**
 * Loads the config file. A missing file at the default path means "all defaults"; a
 * missing file that was asked for explicitly is an error.
 */
export async function loadConfig(path?: string): Promise<{ config: Config; path: string }> {
  const file = path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound && path === undefined) {
      return { config: defaultConfig(), path: file };
    }
    throw new ConfigError(`${file}: cannot read config file: ${(err as Error).message}`);
  }
  return { config: parseConfig(text, file), path: file };
}
