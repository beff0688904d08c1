/**
 * The commented default file printed by `skiff config default` (it parses back to exactly
 * the defaults) and the redacted view of a config.
 */
import { entryDefaults } from "./load.ts";
import {
  type Config,
  CONFIG_SCHEMA,
  describe,
  isField,
  isMap,
  type MapSpec,
  type Scalar,
  type SectionSpec,
} from "./schema.ts";

function tomlValue(v: Scalar): string {
  if (Array.isArray(v)) return `[${v.map((x) => JSON.stringify(x)).join(", ")}]`;
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function renderSection(spec: SectionSpec, prefix: string, out: string[]): void {
  const sub: [string, SectionSpec | MapSpec][] = [];
  for (const [k, s] of Object.entries(spec.fields)) {
    if (isField(s)) {
      out.push(`# ${s.doc}${s.values ? ` (${describe(s)})` : ""}`);
      out.push(`${k} = ${tomlValue(s.default)}`);
    } else sub.push([k, s]);
  }
  for (const [k, s] of sub) {
    const path = prefix ? `${prefix}.${k}` : k;
    out.push("");
    if (isMap(s)) {
      out.push(`# ${s.doc}`);
      const names = Object.keys(s.default);
      for (const name of names) {
        out.push(`[${path}.${tomlKey(name)}]`);
        const vals = { ...entryDefaults(s.entry), ...s.default[name] };
        for (const [fk, f] of Object.entries(s.entry)) {
          out.push(`# ${f.doc}`);
          out.push(`${fk} = ${tomlValue(vals[fk])}`);
        }
      }
      out.push(`# Example:`);
      out.push(`# [${path}.${tomlKey(s.example.name)}]`);
      for (const [fk, v] of Object.entries(s.example.values)) out.push(`# ${fk} = ${tomlValue(v)}`);
      if (names.length === 0) {
        out.push(
          `# keys: ${Object.entries(s.entry).map(([fk, f]) => `${fk} (${f.doc})`).join("; ")}`,
        );
      }
    } else {
      out.push(`# ${s.doc}`);
      out.push(`[${path}]`);
      renderSection(s, path, out);
    }
  }
}

/** The complete, commented default config file. */
export function renderDefaultConfig(): string {
  const out = [`# ${CONFIG_SCHEMA.doc}`, ""];
  renderSection(CONFIG_SCHEMA, "", out);
  return out.join("\n") + "\n";
}

/** The effective config with secrets masked, for Status(verbose) and the admin API. */
export function redactedConfig(c: Config): Config {
  const copy = structuredClone(c);
  for (const r of Object.values(copy.image.registries)) {
    if (r.password) r.password = "<redacted>";
    if (r.auth) r.auth = "<redacted>";
    if (r.identity_token) r.identity_token = "<redacted>";
  }
  return copy;
}
