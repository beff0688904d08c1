/**
 * Skiff's configuration: `/etc/skiff/config.toml` (or `--config`). Every key is optional.
 *
 * One schema drives everything: the typed defaults, validation (unknown keys and bad
 * values fail naming the key, the file and what is allowed) and the commented default file
 * printed by `skiff config default`, which parses back to exactly the defaults.
 */
import { parse as parseToml } from "smol-toml";
import { InvalidArgumentError } from "./errors.ts";

export const DEFAULT_CONFIG_PATH = "/etc/skiff/config.toml";

export interface RuntimeHandlerConfig {
  /** OCI runtime binary: a name looked up in PATH, or an absolute path. */
  binary: string;
  /** `--root` for the runtime's own state; empty means `<state_dir>/runtimes/<name>`. */
  root: string;
  /** Extra global arguments passed before the runtime's sub-command. */
  options: string[];
  /** Whether the handler supports user namespaces (reported in Status). */
  user_namespaces: boolean;
}

export interface RegistryConfig {
  /** Mirror endpoints (`https://host[:port]` or `http://…`), tried in order. */
  mirrors: string[];
  /** Air-gapped nodes: never fall back to the upstream registry after the mirrors. */
  skip_upstream: boolean;
  /** Speak plain HTTP to this registry (localhost and 127.0.0.1 always are). */
  insecure: boolean;
  username: string;
  password: string;
  /** base64 `user:password`, as in a Docker config file. */
  auth: string;
  identity_token: string;
}

export interface Config {
  root_dir: string;
  state_dir: string;
  socket: string;
  log_level: "debug" | "info" | "warn" | "error";
  log_format: "logfmt" | "json";
  cgroup_driver: "cgroupfs" | "systemd";
  /** Shutdown: how long in-flight calls may take after SIGTERM. */
  shutdown_grace_seconds: number;
  /** Accept old kubelets' socket-path `:authority` through cri/authority_front.ts. */
  compat_authority_front: boolean;
  streaming: {
    address: string;
    tls_cert: string;
    tls_key: string;
    idle_timeout_seconds: number;
    stream_creation_timeout_seconds: number;
  };
  admin: {
    address: string;
    token_file: string;
    metrics_require_token: boolean;
    tls_cert: string;
    tls_key: string;
    cors_origins: string[];
    audit_log: string;
  };
  runtime: {
    default_handler: string;
    conmon: string;
    default_stop_timeout_seconds: number;
    restrict_oom_score_adj: boolean;
    handlers: Record<string, RuntimeHandlerConfig>;
  };
  network: {
    cni_conf_dir: string;
    cni_bin_dirs: string[];
    cni_cache_dir: string;
    plugin_timeout_seconds: number;
    default: "" | "bridge";
    bridge_name: string;
    subnet: string;
  };
  image: {
    max_concurrent_downloads: number;
    progress_timeout_seconds: number;
    pinned: string[];
    platform: string;
    registries: Record<string, RegistryConfig>;
  };
}

// ---------------------------------------------------------------------------------------
// Schema

type Scalar = string | number | boolean | string[];

interface FieldSpec {
  type: "string" | "int" | "bool" | "string[]";
  default: Scalar;
  doc: string;
  /** Allowed values for a string. */
  values?: readonly string[];
  min?: number;
}

interface SectionSpec {
  doc: string;
  fields: Record<string, FieldSpec | SectionSpec | MapSpec>;
}

/** A table of named tables, e.g. `[runtime.handlers.<name>]`. */
interface MapSpec {
  doc: string;
  entry: Record<string, FieldSpec>;
  default: Record<string, Record<string, Scalar>>;
  /** Rendered (commented out) when the default map is empty. */
  example: { name: string; values: Record<string, Scalar> };
}

const isField = (s: FieldSpec | SectionSpec | MapSpec): s is FieldSpec => "type" in s;
const isMap = (s: FieldSpec | SectionSpec | MapSpec): s is MapSpec => "entry" in s;

const HANDLER_ENTRY: Record<string, FieldSpec> = {
  binary: { type: "string", default: "runc", doc: "OCI runtime binary (name in PATH or path)" },
  root: {
    type: "string",
    default: "",
    doc: "runtime --root; empty = <state_dir>/runtimes/<handler>",
  },
  options: { type: "string[]", default: [], doc: "extra global arguments for the runtime" },
  user_namespaces: {
    type: "bool",
    default: false,
    doc: "report user-namespace support for this handler",
  },
};

const REGISTRY_ENTRY: Record<string, FieldSpec> = {
  mirrors: {
    type: "string[]",
    default: [],
    doc: 'mirror endpoints tried in order, e.g. "http://10.0.0.5:5000"',
  },
  skip_upstream: {
    type: "bool",
    default: false,
    doc: "never fall back to the registry itself (air-gapped nodes)",
  },
  insecure: { type: "bool", default: false, doc: "speak plain HTTP to this registry" },
  username: { type: "string", default: "", doc: "Basic or token-flow user" },
  password: { type: "string", default: "", doc: "its password" },
  auth: { type: "string", default: "", doc: "base64 user:password, as in Docker config" },
  identity_token: { type: "string", default: "", doc: "OAuth2 refresh token" },
};

export const CONFIG_SCHEMA: SectionSpec = {
  doc: "Skiff configuration. Every key is optional; the values below are the defaults.",
  fields: {
    root_dir: {
      type: "string",
      default: "/var/lib/skiff",
      doc: "persistent data: metadata, images, layers",
    },
    state_dir: {
      type: "string",
      default: "/run/skiff",
      doc: "volatile state: namespaces, bundles, sockets",
    },
    socket: { type: "string", default: "/run/skiff/skiff.sock", doc: "CRI gRPC unix socket" },
    log_level: {
      type: "string",
      default: "info",
      values: ["debug", "info", "warn", "error"],
      doc: "log level",
    },
    log_format: {
      type: "string",
      default: "logfmt",
      values: ["logfmt", "json"],
      doc: "log line format on stderr",
    },
    cgroup_driver: {
      type: "string",
      default: "cgroupfs",
      values: ["cgroupfs", "systemd"],
      doc: "cgroup driver; must match kubelet's",
    },
    shutdown_grace_seconds: {
      type: "int",
      default: 10,
      min: 0,
      doc: "on SIGTERM, how long in-flight calls may finish",
    },
    compat_authority_front: {
      type: "bool",
      default: true,
      doc: "accept kubelet/crictl < 1.30, which send the socket path as HTTP/2 :authority",
    },
    streaming: {
      doc: "CRI streaming server (exec, attach, port-forward) that kubelet proxies to",
      fields: {
        address: {
          type: "string",
          default: "127.0.0.1:10010",
          doc: "host:port; port 0 picks a free one",
        },
        tls_cert: { type: "string", default: "", doc: "PEM certificate; empty = plain HTTP" },
        tls_key: { type: "string", default: "", doc: "PEM key for tls_cert" },
        idle_timeout_seconds: {
          type: "int",
          default: 14400,
          min: 0,
          doc: "close a stream idle this long (0 = never)",
        },
        stream_creation_timeout_seconds: {
          type: "int",
          default: 30,
          min: 1,
          doc: "time the client has to open its streams",
        },
      },
    },
    admin: {
      doc: "operators' admin API and dashboard",
      fields: {
        address: {
          type: "string",
          default: "127.0.0.1:10251",
          doc: "host:port; empty disables the admin server",
        },
        token_file: {
          type: "string",
          default: "",
          doc: "bearer token file (0600, made on first start); empty = <root_dir>/admin.token",
        },
        metrics_require_token: {
          type: "bool",
          default: false,
          doc: "require the token for /metrics too",
        },
        tls_cert: { type: "string", default: "", doc: "PEM certificate; empty = plain HTTP" },
        tls_key: { type: "string", default: "", doc: "PEM key for tls_cert" },
        cors_origins: { type: "string[]", default: [], doc: "origins allowed by CORS (none)" },
        audit_log: {
          type: "string",
          default: "",
          doc: "exec/attach/port-forward audit log; empty = <root_dir>/audit.log",
        },
      },
    },
    runtime: {
      doc: "containers and OCI runtimes",
      fields: {
        default_handler: {
          type: "string",
          default: "runc",
          doc: "handler used when a pod names none",
        },
        conmon: { type: "string", default: "conmon", doc: "conmon binary (name in PATH or path)" },
        default_stop_timeout_seconds: {
          type: "int",
          default: 10,
          min: 0,
          doc: "grace period when StopContainer gives none",
        },
        restrict_oom_score_adj: {
          type: "bool",
          default: true,
          doc: "clamp oom_score_adj to Skiff's own when lowering is not permitted",
        },
        handlers: {
          doc: "RuntimeClass handlers: [runtime.handlers.<name>]",
          entry: HANDLER_ENTRY,
          default: {
            runc: { binary: "runc", root: "", options: [], user_namespaces: false },
          },
          example: { name: "crun", values: { binary: "crun" } },
        },
      },
    },
    network: {
      doc: "pod networking through CNI",
      fields: {
        cni_conf_dir: { type: "string", default: "/etc/cni/net.d", doc: "CNI config directory" },
        cni_bin_dirs: {
          type: "string[]",
          default: ["/opt/cni/bin", "/usr/lib/cni"],
          doc: "CNI plugin directories, searched in order",
        },
        cni_cache_dir: {
          type: "string",
          default: "",
          doc: "CNI results cache; empty = <root_dir>/cni/cache",
        },
        plugin_timeout_seconds: {
          type: "int",
          default: 60,
          min: 1,
          doc: "a CNI plugin call taking longer is killed",
        },
        default: {
          type: "string",
          default: "",
          values: ["", "bridge"],
          doc: '"bridge": built-in network used when cni_conf_dir has no config',
        },
        bridge_name: { type: "string", default: "skiff0", doc: "bridge of the built-in network" },
        subnet: { type: "string", default: "10.88.0.0/16", doc: "subnet of the built-in network" },
      },
    },
    image: {
      doc: "image pulls and storage",
      fields: {
        max_concurrent_downloads: {
          type: "int",
          default: 3,
          min: 1,
          doc: "layers fetched in parallel per pull",
        },
        progress_timeout_seconds: {
          type: "int",
          default: 60,
          min: 1,
          doc: "a pull that moves no byte for this long fails",
        },
        pinned: {
          type: "string[]",
          default: [],
          doc: "images reported pinned (never garbage collected by kubelet)",
        },
        platform: {
          type: "string",
          default: "",
          doc: "os/arch[/variant] to pull; empty = this node's",
        },
        registries: {
          doc: 'per-registry settings: [image.registries."<host[:port]>"]',
          entry: REGISTRY_ENTRY,
          default: {},
          example: {
            name: "registry.k8s.io",
            values: { mirrors: ["http://127.0.0.1:5000"], skip_upstream: false },
          },
        },
      },
    },
  },
};

// ---------------------------------------------------------------------------------------
// Defaults

function fieldDefault(f: FieldSpec): Scalar {
  return Array.isArray(f.default) ? [...f.default] : f.default;
}

function entryDefaults(entry: Record<string, FieldSpec>): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const [k, f] of Object.entries(entry)) out[k] = fieldDefault(f);
  return out;
}

function sectionDefaults(spec: SectionSpec): Record<string, unknown> {
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
  return out;
}

export function defaultConfig(): Config {
  return sectionDefaults(CONFIG_SCHEMA) as unknown as Config;
}

// ---------------------------------------------------------------------------------------
// Validation

export class ConfigError extends InvalidArgumentError {}

function describe(f: FieldSpec): string {
  if (f.values) return `one of ${f.values.map((v) => JSON.stringify(v)).join(", ")}`;
  switch (f.type) {
    case "int":
      return f.min !== undefined ? `an integer >= ${f.min}` : "an integer";
    case "bool":
      return "true or false";
    case "string[]":
      return "an array of strings";
    default:
      return "a string";
  }
}

function checkField(f: FieldSpec, v: unknown, where: () => string): Scalar {
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
  entry: Record<string, FieldSpec>,
  value: unknown,
  path: string,
  file: string,
): Record<string, Scalar> {
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
  mergeSection(CONFIG_SCHEMA, cfg as unknown as Record<string, unknown>, raw, "", file);
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

// ---------------------------------------------------------------------------------------
// Derived paths: one place decides where things live under root_dir and state_dir.

export function adminTokenFile(c: Config): string {
  return c.admin.token_file || `${c.root_dir}/admin.token`;
}
export function auditLogFile(c: Config): string {
  return c.admin.audit_log || `${c.root_dir}/audit.log`;
}
export function cniCacheDir(c: Config): string {
  return c.network.cni_cache_dir || `${c.root_dir}/cni/cache`;
}
export function runtimeRoot(c: Config, handler: string): string {
  return c.runtime.handlers[handler]?.root || `${c.state_dir}/runtimes/${handler}`;
}
export function databaseFile(c: Config): string {
  return `${c.root_dir}/skiff.db`;
}
/** The gRPC server's own socket when the authority front owns `socket` (mode 0600). */
export function internalCriSocket(c: Config): string {
  return `${c.state_dir}/skiff-internal.sock`;
}

// ---------------------------------------------------------------------------------------
// The default file

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
