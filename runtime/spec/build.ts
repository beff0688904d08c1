/**
 * The OCI runtime spec (config.json) of a container, built from the image config and the
 * CRI ContainerConfig the way containerd builds it, so that Kubernetes users get what they
 * expect: the same argv, env, user, capabilities, masked paths, mounts and cgroup settings.
 *
 * Pure apart from the callbacks in `SpecHost` (device lookups, mount propagation of host
 * paths), so that every rule can be unit-tested without a container.
 */
import { FailedPreconditionError, InvalidArgumentError } from "../../core/errors.ts";
import type {
  ContainerConfig,
  LinuxContainerResources,
  LinuxContainerSecurityContext,
  Mount,
} from "../model.ts";
import type { ImageRuntimeConfig, SandboxForContainer } from "../contracts.ts";
import { defaultSeccompProfile, loadLocalhostProfile, type SeccompProfile } from "./seccomp.ts";
import type { ResolvedUser } from "./user.ts";

// ---------------------------------------------------------------------------------------
// OCI spec shapes (the subset Skiff writes)

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface OciDevice {
  type: "c" | "b" | "p";
  path: string;
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface OciDeviceRule {
  allow: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access: string;
}

export interface OciResources {
  devices: OciDeviceRule[];
  memory?: { limit?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: Record<string, string>;
}

export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[]; umask?: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: {
      bounding: string[];
      effective: string[];
      permitted: string[];
      inheritable: string[];
      ambient: string[];
    };
    rlimits: { type: string; hard: number; soft: number }[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: OciMount[];
  annotations: Record<string, string>;
  linux: {
    namespaces: { type: string; path?: string }[];
    resources: OciResources;
    cgroupsPath: string;
    devices: OciDevice[];
    sysctl: Record<string, string>;
    maskedPaths: string[];
    readonlyPaths: string[];
    seccomp?: SeccompProfile;
    rootfsPropagation?: string;
  };
}

// ---------------------------------------------------------------------------------------
// Defaults (containerd's)

export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability up to CAP_CHECKPOINT_RESTORE (40), in kernel order. */
export const ALL_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

export const DEFAULT_MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const DEFAULT_READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---------------------------------------------------------------------------------------

/** What the spec builder may ask of the host. */
export interface SpecHost {
  /** Device node facts of a host path, or null when it is not a device. */
  device(path: string): OciDevice | null;
  /** Every device node under the host's /dev, for privileged containers. */
  hostDevices(): OciDevice[];
  /** Propagation of the mount holding a host path: "shared", "slave" or "private". */
  mountPropagation(path: string): "shared" | "slave" | "private";
}

export interface SpecInput {
  id: string;
  config: ContainerConfig;
  image: ImageRuntimeConfig;
  sandbox: SandboxForContainer;
  rootfs: string;
  user: ResolvedUser;
  /** PID namespace to join: a path, "host", or null for a new one. */
  pidNamespace: string | null;
  cgroupDriver: "cgroupfs" | "systemd";
  cgroupV2: boolean;
  /** Lowest oom_score_adj Skiff may give (its own when lowering is refused), or null. */
  oomScoreAdjFloor: number | null;
  host: SpecHost;
  /** Whether the node's cgroups have the hugetlb controller (hugepage limits need it). */
  hugetlbAvailable?: boolean;
  /** Skiff's own bounding set: no container can hold more. */
  availableCapabilities?: readonly string[];
}

/** The argv of the container process: CRI command/args over the image entrypoint/cmd. */
export function processArgs(config: ContainerConfig, image: ImageRuntimeConfig): string[] {
  let command = [...(config.command ?? [])];
  let args = [...(config.args ?? [])];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const ep = image.Entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === "")) command = [...ep];
  }
  const argv = [...command, ...args];
  if (argv.length === 0) {
    throw new InvalidArgumentError(
      "no command specified: the container config has no command/args and the image has no Entrypoint/Cmd",
    );
  }
  return argv;
}

/** Image env overridden key by key by the CRI envs; PATH and HOME filled in when absent. */
export function processEnv(
  config: ContainerConfig,
  image: ImageRuntimeConfig,
  user: ResolvedUser,
  hostname: string,
): string[] {
  const env = new Map<string, string>();
  const put = (kv: string) => {
    const i = kv.indexOf("=");
    env.set(i < 0 ? kv : kv.slice(0, i), kv);
  };
  put(DEFAULT_PATH);
  if (hostname) put(`HOSTNAME=${hostname}`);
  for (const kv of image.Env ?? []) put(kv);
  // KeyValue.value is `bytes` in the schema (the wire form of a proto string): UTF-8 text.
  for (const e of config.envs ?? []) put(`${e.key}=${envValue(e.value)}`);
  if (!env.has("HOME")) put(`HOME=${user.home || "/"}`);
  return [...env.values()];
}

const utf8 = new TextDecoder();
function envValue(v: Uint8Array | string): string {
  return typeof v === "string" ? v : utf8.decode(v);
}

function normalizeCap(c: string): string {
  const u = c.toUpperCase();
  return u === "ALL" ? "ALL" : u.startsWith("CAP_") ? u : `CAP_${u}`;
}

/**
 * Default set, then drops, then adds; `ALL` in either list means every capability.
 * `available` is Skiff's own bounding set: `ALL` and privileged give what is available
 * (as containerd does), and asking by name for one Skiff lacks is an error saying so.
 */
export function capabilitySet(
  sc: LinuxContainerSecurityContext | null | undefined,
  available: readonly string[] = ALL_CAPABILITIES,
): string[] {
  const all = ALL_CAPABILITIES.filter((c) => available.includes(c));
  if (sc?.privileged) return all;
  const add = (sc?.capabilities?.add_capabilities ?? []).map(normalizeCap);
  const drop = (sc?.capabilities?.drop_capabilities ?? []).map(normalizeCap);
  let caps = add.includes("ALL") ? [...all] : [...DEFAULT_CAPABILITIES];
  if (drop.includes("ALL")) caps = [];
  for (const d of drop) caps = caps.filter((c) => c !== d);
  for (const a of add) if (a !== "ALL" && !caps.includes(a)) caps.push(a);
  for (const c of caps) {
    if (!ALL_CAPABILITIES.includes(c)) {
      throw new InvalidArgumentError(
        `unknown capability ${c}; valid names look like CAP_NET_ADMIN`,
      );
    }
    if (!available.includes(c)) {
      throw new InvalidArgumentError(
        `capability ${c} was requested, but Skiff itself does not hold it on this node, so no container can get it`,
      );
    }
  }
  return caps;
}

const PROPAGATION_OPTION: Record<string, string> = {
  PROPAGATION_PRIVATE: "rprivate",
  PROPAGATION_HOST_TO_CONTAINER: "rslave",
  PROPAGATION_BIDIRECTIONAL: "rshared",
};

function depth(p: string): number {
  return p.split("/").filter(Boolean).length;
}

function cgroupsPath(input: SpecInput): string {
  const parent = input.sandbox.cgroupParent;
  if (input.cgroupDriver === "systemd") {
    // runc's systemd form: "slice:prefix:name".
    const slice = parent ? parent.split("/").filter(Boolean).pop()! : "system.slice";
    return `${slice}:skiff:${input.id}`;
  }
  const base = parent ? (parent.startsWith("/") ? parent : `/${parent}`) : "/skiff";
  return `${base.replace(/\/$/, "")}/skiff-${input.id}`;
}

function resources(
  r: LinuxContainerResources | null | undefined,
  input: SpecInput,
  deviceRules: OciDeviceRule[],
): OciResources {
  const out: OciResources = { devices: deviceRules };
  if (!r) return out;
  const n = (s: string | undefined) => Number(s ?? "0");
  const mem: NonNullable<OciResources["memory"]> = {};
  if (n(r.memory_limit_in_bytes) > 0) mem.limit = n(r.memory_limit_in_bytes);
  if (n(r.memory_swap_limit_in_bytes) > 0) mem.swap = n(r.memory_swap_limit_in_bytes);
  if (Object.keys(mem).length) out.memory = mem;
  const cpu: NonNullable<OciResources["cpu"]> = {};
  if (n(r.cpu_shares) > 0) cpu.shares = n(r.cpu_shares);
  if (n(r.cpu_quota) !== 0) cpu.quota = n(r.cpu_quota);
  if (n(r.cpu_period) > 0) cpu.period = n(r.cpu_period);
  if (r.cpuset_cpus) cpu.cpus = r.cpuset_cpus;
  if (r.cpuset_mems) cpu.mems = r.cpuset_mems;
  if (Object.keys(cpu).length) out.cpu = cpu;
  // kubelet sends a limit for every huge page size the node has; where the hugetlb
  // controller is not available runc cannot set them at all, so they are skipped, as CRI-O
  // does (the container can then use no more huge pages than the node has anyway).
  if (r.hugepage_limits?.length && input.hugetlbAvailable !== false) {
    out.hugepageLimits = r.hugepage_limits.map((h) => ({
      pageSize: h.page_size,
      limit: n(h.limit),
    }));
  }
  if (r.unified && Object.keys(r.unified).length) {
    if (!input.cgroupV2) {
      throw new InvalidArgumentError(
        "resources.unified needs cgroup v2, and this node runs cgroup v1; remove the unified settings",
      );
    }
    out.unified = { ...r.unified };
  }
  return out;
}

/** The oom_score_adj to give: the request, raised to the floor when lowering is refused. */
export function clampOomScoreAdj(requested: number, floor: number | null): number {
  return floor !== null && requested < floor ? floor : requested;
}

export function buildSpec(input: SpecInput): OciSpec {
  const { config, image, sandbox, user } = input;
  const sc = config.linux?.security_context ?? null;
  const privileged = !!sc?.privileged;
  const readonlyRootfs = !!sc?.readonly_rootfs;
  const caps = capabilitySet(sc, input.availableCapabilities);

  if (sc?.apparmor && sc.apparmor.profile_type !== "Unconfined" || sc?.apparmor_profile) {
    const wanted = sc?.apparmor?.profile_type === "Localhost"
      ? `localhost/${sc.apparmor.localhost_ref}`
      : sc?.apparmor?.profile_type ?? sc?.apparmor_profile;
    // RuntimeDefault without AppArmor in the kernel means "no profile", as containerd does;
    // a specific profile cannot be honoured.
    if (wanted !== "RuntimeDefault" && wanted !== "runtime/default") {
      throw new InvalidArgumentError(
        `AppArmor profile "${wanted}" was requested, but this node's kernel has no AppArmor; ` +
          `drop the appArmorProfile from the pod spec or run it on a node with AppArmor`,
      );
    }
  }

  if (config.CDI_devices?.length) {
    throw new InvalidArgumentError(
      `CDI devices (${
        config.CDI_devices.map((d) => d.name).join(", ")
      }) are not supported by this Skiff; ` +
        `use CRI devices (host paths) instead`,
    );
  }
  const userns = sc?.namespace_options?.userns_options;
  if (userns && userns.mode && userns.mode !== "NODE") {
    throw new InvalidArgumentError(
      `user namespaces (mode ${userns.mode}) are not supported by this Skiff's runtime handlers; ` +
        `run the pod with hostUsers: true`,
    );
  }

  // --- mounts
  const mounts: OciMount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    {
      destination: "/dev/mqueue",
      type: "mqueue",
      source: "mqueue",
      options: ["nosuid", "noexec", "nodev"],
    },
    {
      destination: "/sys",
      type: "sysfs",
      source: "sysfs",
      options: ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"],
    },
    {
      destination: "/sys/fs/cgroup",
      type: "cgroup",
      source: "cgroup",
      options: ["nosuid", "noexec", "nodev", "relatime", privileged ? "rw" : "ro"],
    },
  ];
  const criMounts = config.mounts ?? [];
  const inCri = (dst: string) => criMounts.some((m) => m.container_path === dst);
  const podFile = (dst: string, src: string) => {
    if (!src || inCri(dst)) return;
    mounts.push({
      destination: dst,
      type: "bind",
      source: src,
      options: ["rbind", "rprivate", readonlyRootfs ? "ro" : "rw"],
    });
  };
  podFile("/etc/hosts", sandbox.hostsPath);
  podFile("/etc/resolv.conf", sandbox.resolvConfPath);
  podFile("/etc/hostname", sandbox.hostnamePath);
  if (!inCri("/dev/shm")) {
    mounts.push(
      sandbox.shmPath
        ? {
          destination: "/dev/shm",
          type: "bind",
          source: sandbox.shmPath,
          options: ["rbind", "rprivate", "rw"],
        }
        : {
          destination: "/dev/shm",
          type: "tmpfs",
          source: "shm",
          options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
    );
  }

  let rootfsPropagation: string | undefined;
  const sortedCri = [...criMounts].sort((a, b) =>
    depth(a.container_path) - depth(b.container_path)
  );
  for (const m of sortedCri) {
    mounts.push(criMount(m, input, (p) => {
      if (
        p === "rshared" || (p === "rslave" && rootfsPropagation !== "rshared")
      ) rootfsPropagation = p;
    }));
  }

  // --- devices
  const devices: OciDevice[] = [];
  const rules: OciDeviceRule[] = [{ allow: false, access: "rwm" }];
  if (privileged) {
    devices.push(...input.host.hostDevices());
    rules.length = 0;
    rules.push({ allow: true, access: "rwm" });
  }
  for (const d of config.devices ?? []) {
    const dev = input.host.device(d.host_path);
    if (!dev) {
      throw new InvalidArgumentError(`device ${d.host_path} is not a device node on this node`);
    }
    const perms = d.permissions || "rwm";
    if (!/^[rwm]+$/.test(perms)) {
      throw new InvalidArgumentError(`device permissions "${perms}" must be made of r, w and m`);
    }
    devices.push({ ...dev, path: d.container_path || d.host_path });
    if (!privileged) {
      rules.push({
        allow: true,
        type: dev.type,
        major: dev.major,
        minor: dev.minor,
        access: perms,
      });
    }
  }

  // --- namespaces
  const namespaces: { type: string; path?: string }[] = [{ type: "mount" }];
  const join = (type: string, path: string | null) => {
    if (path) namespaces.push({ type, path });
  };
  if (!sandbox.hostNetwork) join("network", sandbox.netnsPath);
  if (!sandbox.hostIpc) join("ipc", sandbox.ipcnsPath);
  join("uts", sandbox.utsnsPath);
  if (input.pidNamespace === null) namespaces.push({ type: "pid" });
  else if (input.pidNamespace !== "host") {
    namespaces.push({ type: "pid", path: input.pidNamespace });
  }
  if (input.cgroupV2) namespaces.push({ type: "cgroup" });

  // --- seccomp
  let seccomp: SeccompProfile | undefined;
  const prof = sc?.seccomp;
  const legacy = sc?.seccomp_profile_path ?? "";
  if (prof && prof.profile_type === "Localhost") seccomp = loadLocalhostProfile(prof.localhost_ref);
  else if (prof && prof.profile_type === "RuntimeDefault") {
    if (!privileged) seccomp = defaultSeccompProfile(caps);
  } else if (!prof && legacy) {
    if (legacy === "runtime/default" || legacy === "docker/default") {
      if (!privileged) seccomp = defaultSeccompProfile(caps);
    } else if (legacy.startsWith("localhost/")) {
      seccomp = loadLocalhostProfile(legacy.slice("localhost/".length));
    } else if (legacy !== "unconfined") {
      throw new InvalidArgumentError(
        `seccomp profile "${legacy}" is not understood; use runtime/default, unconfined or localhost/<path>`,
      );
    }
  }

  const masked = privileged
    ? []
    : sc?.masked_paths?.length
    ? [...sc.masked_paths]
    : [...DEFAULT_MASKED_PATHS];
  const readonly = privileged
    ? []
    : sc?.readonly_paths?.length
    ? [...sc.readonly_paths]
    : [...DEFAULT_READONLY_PATHS];

  const oomReq = Number(config.linux?.resources?.oom_score_adj ?? "0");
  const oom = clampOomScoreAdj(oomReq, input.oomScoreAdjFloor);

  const spec: OciSpec = {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: !!config.tty,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: processArgs(config, image),
      env: processEnv(config, image, user, sandbox.hostname),
      cwd: config.working_dir || image.WorkingDir || "/",
      capabilities: {
        bounding: caps,
        effective: caps,
        permitted: caps,
        inheritable: [],
        ambient: (sc?.capabilities?.add_ambient_capabilities ?? []).map(normalizeCap),
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: !!sc?.no_new_privs,
      oomScoreAdj: oom,
    },
    root: { path: input.rootfs, readonly: readonlyRootfs },
    mounts,
    annotations: {
      ...(config.annotations ?? {}),
      "io.kubernetes.cri.container-type": "container",
      "io.kubernetes.cri.sandbox-id": sandbox.id,
      "io.kubernetes.cri.container-name": config.metadata?.name ?? "",
    },
    linux: {
      namespaces,
      resources: resources(config.linux?.resources, input, rules),
      cgroupsPath: cgroupsPath(input),
      devices,
      sysctl: { ...sandbox.sysctls },
      maskedPaths: masked,
      readonlyPaths: readonly,
      ...(seccomp ? { seccomp } : {}),
      ...(rootfsPropagation ? { rootfsPropagation } : {}),
    },
  };
  if (sandbox.utsnsPath && sandbox.hostname) spec.hostname = sandbox.hostname;
  return spec;
}

function criMount(m: Mount, input: SpecInput, propagated: (p: string) => void): OciMount {
  if (!m.container_path?.startsWith("/")) {
    throw new InvalidArgumentError(
      `mount container_path "${m.container_path}" must be an absolute path`,
    );
  }
  if (m.image?.image) {
    throw new InvalidArgumentError(
      `image volume mounts (${m.container_path} from ${m.image.image}) are not supported by this Skiff`,
    );
  }
  const propagation = PROPAGATION_OPTION[m.propagation ?? "PROPAGATION_PRIVATE"] ?? "rprivate";
  if (propagation !== "rprivate") {
    const hostProp = input.host.mountPropagation(m.host_path);
    if (propagation === "rshared" && hostProp !== "shared") {
      throw new FailedPreconditionError(
        `mount ${m.host_path} asks for Bidirectional propagation, but its host mount is not shared; ` +
          `make it shared on the node (mount --make-rshared)`,
      );
    }
    if (propagation === "rslave" && hostProp === "private") {
      throw new FailedPreconditionError(
        `mount ${m.host_path} asks for HostToContainer propagation, but its host mount is private; ` +
          `make it shared or slave on the node (mount --make-rshared)`,
      );
    }
    propagated(propagation);
  }
  const options = ["rbind", propagation];
  if (m.recursive_read_only) {
    if (!m.readonly) {
      throw new InvalidArgumentError(
        `mount ${m.container_path}: recursive_read_only needs readonly to be set too`,
      );
    }
    if (propagation !== "rprivate") {
      throw new InvalidArgumentError(
        `mount ${m.container_path}: recursive_read_only needs private propagation`,
      );
    }
    options.push("rro");
  } else options.push(m.readonly ? "ro" : "rw");
  return { destination: m.container_path, type: "bind", source: m.host_path, options };
}
