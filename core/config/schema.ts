/**
 * The configuration schema: every key with its type, default, allowed values and doc. The
 * `Config` type is derived from it, so the type, the defaults, validation and the default
 * file cannot drift apart.
 */

export const DEFAULT_CONFIG_PATH = "/etc/skiff/config.toml";

export type Scalar = string | number | boolean | readonly string[];

export interface FieldSpec {
  readonly type: "string" | "int" | "bool" | "string[]";
  readonly default: Scalar;
  readonly doc: string;
  /** Allowed values for a string. */
  readonly values?: readonly string[];
  readonly min?: number;
}

export interface SectionSpec {
  readonly doc: string;
  readonly fields: { readonly [key: string]: FieldSpec | SectionSpec | MapSpec };
}

/** A table of named tables, e.g. `[runtime.handlers.<name>]`. */
export interface MapSpec {
  readonly doc: string;
  readonly entry: EntrySpec;
  readonly default: { readonly [name: string]: { readonly [key: string]: Scalar } };
  /** Rendered (commented out) when the default map is empty. */
  readonly example: { readonly name: string; readonly values: { readonly [key: string]: Scalar } };
}

export type EntrySpec = { readonly [key: string]: FieldSpec };

export const isField = (s: FieldSpec | SectionSpec | MapSpec): s is FieldSpec => "type" in s;
export const isMap = (s: FieldSpec | SectionSpec | MapSpec): s is MapSpec => "entry" in s;

// ---------------------------------------------------------------------------------------
// Types derived from a spec

/** The value a field holds: its allowed strings when it lists them. */
export type FieldValue<F extends FieldSpec> = F["type"] extends "int" ? number
  : F["type"] extends "bool" ? boolean
  : F["type"] extends "string[]" ? string[]
  : F extends { readonly values: readonly (infer V extends string)[] } ? V
  : string;

export type EntryValue<E extends EntrySpec> = { -readonly [K in keyof E]: FieldValue<E[K]> };

export type SectionValue<S extends SectionSpec> = {
  -readonly [K in keyof S["fields"]]: S["fields"][K] extends FieldSpec ? FieldValue<S["fields"][K]>
    : S["fields"][K] extends MapSpec ? Record<string, EntryValue<S["fields"][K]["entry"]>>
    : S["fields"][K] extends SectionSpec ? SectionValue<S["fields"][K]>
    : never;
};

/** What a field accepts, for error messages and the default file. */
export function describe(f: FieldSpec): string {
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

// ---------------------------------------------------------------------------------------
// The schema

const HANDLER_ENTRY = {
  binary: { type: "string", default: "runc", doc: "OCI runtime binary (name in PATH or path)" },
  root: {
    type: "string",
    default: "",
    doc: "runtime --root; empty = <state_dir>/runtimes/<handler>",
  },
  options: { type: "string[]", default: [], doc: "extra global arguments for the runtime" },
  user_namespaces: {
    type: "bool",
    default: true,
    doc: "allow pods with their own user namespace (hostUsers: false) where the node supports it",
  },
} as const satisfies Record<string, FieldSpec>;

/** The connection guard's limits, the same keys for every TCP listener (streaming, admin). */
const CONNECTION_LIMITS = {
  max_pending_connections: {
    type: "int",
    default: 1024,
    min: 1,
    doc: "connections that have not completed a request yet, at most; more are closed",
  },
  request_header_timeout_seconds: {
    type: "int",
    default: 5,
    min: 1,
    doc: "close a connection that has not sent a complete request within this",
  },
} as const satisfies Record<string, FieldSpec>;

const REGISTRY_ENTRY = {
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
} as const satisfies Record<string, FieldSpec>;

export const CONFIG_SCHEMA = {
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
      doc:
        "no effect, kept so older config files load: every :authority is accepted (kubelet/crictl < 1.30 send the socket path)",
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
        ...CONNECTION_LIMITS,
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
        ...CONNECTION_LIMITS,
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
            runc: { binary: "runc", root: "", options: [], user_namespaces: true },
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
        max_config_bytes: {
          type: "int",
          default: 8 * 1024 * 1024,
          min: 1024,
          doc: "largest image config accepted (manifests and indexes: 8 MiB)",
        },
        max_layers: {
          type: "int",
          default: 500,
          min: 1,
          doc: "most layers an image may have (also capped by what one overlay mount can hold)",
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
} as const satisfies SectionSpec;

/** Skiff's configuration, every key filled in (defaults for those the file leaves out). */
export type Config = SectionValue<typeof CONFIG_SCHEMA>;
/** `[runtime.handlers.<name>]`: an OCI runtime (binary, `--root`, extra options). */
export type RuntimeHandlerConfig = EntryValue<typeof HANDLER_ENTRY>;
/** `[image.registries."<host>"]`: mirrors, transport and credentials for one registry. */
export type RegistryConfig = EntryValue<typeof REGISTRY_ENTRY>;
