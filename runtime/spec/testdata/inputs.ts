/**
 * Inputs for the spec unit tests: CRI-shaped configs (runtime/model.ts types, never cri/),
 * a pod sandbox, a fake host, and two representative containers whose whole spec is pinned
 * in testdata/*.json.
 */
import type { ContainerConfig, LinuxContainerSecurityContext, Mount } from "../../model.ts";
import type { SandboxForContainer } from "../../contracts.ts";
import type { SpecHost, SpecInput } from "../mod.ts";

let counter = 0;

/** A container config with CRI's zero values, overridden by `c`. */
export function containerConfig(c: Partial<ContainerConfig>): ContainerConfig {
  const name = c.metadata?.name ?? `c${++counter}`;
  return {
    metadata: { name, attempt: 0 },
    image: {
      image: "busybox",
      annotations: {},
      user_specified_image: "",
      runtime_handler: "",
      image_ref: "",
    },
    command: [],
    args: [],
    working_dir: "",
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: `${name}/0.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    CDI_devices: [],
    stop_signal: "RUNTIME_DEFAULT",
    ...c,
  };
}

/** A CRI env entry (its value is `bytes` on the wire). */
export function kv(key: string, value: string) {
  return { key, value: new TextEncoder().encode(value) };
}

/** A security context with CRI's zero values. */
export function secCtx(): LinuxContainerSecurityContext {
  return {
    privileged: false,
    run_as_username: "",
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge",
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    apparmor_profile: "",
    seccomp_profile_path: "",
  };
}

/** A bind mount with CRI's zero values. */
export function bindMount(container: string, host: string, over: Partial<Mount> = {}): Mount {
  return {
    container_path: container,
    host_path: host,
    readonly: false,
    selinux_relabel: false,
    propagation: "PROPAGATION_PRIVATE",
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image_sub_path: "",
    ...over,
  };
}

export const sandbox: SandboxForContainer = {
  id: "sb1",
  name: "pod",
  namespace: "ns",
  uid: "u",
  state: "SANDBOX_READY",
  runtimeHandler: "runc",
  netnsPath: "/run/skiff/ns/net/sb1",
  ipcnsPath: "/run/skiff/ns/ipc/sb1",
  utsnsPath: "/run/skiff/ns/uts/sb1",
  pidnsPath: null,
  hostNetwork: false,
  hostIpc: false,
  hostPid: false,
  privileged: false,
  hostname: "pod-host",
  resolvConfPath: "/pods/sb1/resolv.conf",
  hostsPath: "/pods/sb1/hosts",
  hostnamePath: "/pods/sb1/hostname",
  shmPath: "/pods/sb1/shm",
  cgroupParent: "/kubepods/podabc",
  logDirectory: "/var/log/pods/x",
  sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" },
  labels: {},
  annotations: {},
};

export const host: SpecHost = {
  device: (p) => p === "/dev/fuse" ? { type: "c", path: p, major: 10, minor: 229 } : null,
  hostDevices: () => [{ type: "c", path: "/dev/kmsg", major: 1, minor: 11 }],
  mountPropagation: (p) => p.startsWith("/shared") ? "shared" : "private",
};

export const rootUser = { uid: 0, gid: 0, additionalGids: [0], name: "root", home: "/root" };

/**
 * An ordinary pod container using most of what CRI can ask for: image and CRI argv/env,
 * a user with groups, capability changes, RuntimeDefault seccomp, a read-only root, bind
 * mounts of every propagation, a device, every resource, cgroup v2, a shared PID namespace.
 */
export function ordinaryContainer(): SpecInput {
  const config = containerConfig({
    metadata: { name: "app", attempt: 1 },
    command: ["/bin/app"],
    args: ["--serve", "--port=8080"],
    working_dir: "/srv",
    envs: [kv("MODE", "prod"), kv("EMPTY", ""), kv("PATH", "/opt/bin:/bin")],
    tty: true,
    annotations: { "example.com/owner": "team-a", "io.kubernetes.cri.container-type": "x" },
    mounts: [
      bindMount("/var/data/cache", "/h/cache"),
      bindMount("/var/data", "/shared/data", {
        readonly: true,
        propagation: "PROPAGATION_HOST_TO_CONTAINER",
      }),
      bindMount("/config", "/h/config", { readonly: true, recursive_read_only: true }),
      bindMount("/bidi", "/shared/bidi", { propagation: "PROPAGATION_BIDIRECTIONAL" }),
    ],
    devices: [{ container_path: "/dev/f", host_path: "/dev/fuse", permissions: "rw" }],
  });
  config.linux = {
    resources: {
      cpu_period: "100000",
      cpu_quota: "50000",
      cpu_shares: "512",
      memory_limit_in_bytes: "67108864",
      oom_score_adj: "-500",
      cpuset_cpus: "0-1",
      cpuset_mems: "0",
      hugepage_limits: [{ page_size: "2MB", limit: "4194304" }],
      unified: { "memory.high": "60000000" },
      memory_swap_limit_in_bytes: "134217728",
    },
    security_context: {
      ...secCtx(),
      capabilities: {
        add_capabilities: ["NET_ADMIN", "cap_sys_time"],
        drop_capabilities: ["CHOWN", "MKNOD"],
        add_ambient_capabilities: ["net_bind_service"],
      },
      readonly_rootfs: true,
      no_new_privs: true,
      seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
      apparmor: { profile_type: "RuntimeDefault", localhost_ref: "" },
    },
  };
  return {
    id: "c0ffee",
    config,
    image: {
      Entrypoint: ["/ignored"],
      Cmd: ["ignored"],
      Env: ["LANG=C.UTF-8", "MODE=dev", "PATH=/usr/bin"],
      WorkingDir: "/img",
    },
    sandbox,
    rootfs: "/var/lib/skiff/containers/c0ffee/rootfs",
    user: { uid: 1000, gid: 1001, additionalGids: [1001, 2000, 9], name: "app", home: "/home/app" },
    pidNamespace: "/proc/42/ns/pid",
    cgroupDriver: "cgroupfs",
    cgroupV2: true,
    oomScoreAdjFloor: null,
    host,
    hugetlbAvailable: true,
    availableCapabilities: undefined,
  };
}

/**
 * A privileged container on the host network with no pod UTS namespace or /dev/shm, under
 * systemd cgroups, with the image's entrypoint and a floor on oom_score_adj.
 */
export function privilegedContainer(): SpecInput {
  const config = containerConfig({
    metadata: { name: "agent", attempt: 0 },
    devices: [{ container_path: "", host_path: "/dev/fuse", permissions: "" }],
  });
  config.linux = {
    resources: {
      cpu_period: "0",
      cpu_quota: "-1",
      cpu_shares: "2",
      memory_limit_in_bytes: "0",
      oom_score_adj: "-999",
      cpuset_cpus: "",
      cpuset_mems: "",
      hugepage_limits: [{ page_size: "1GB", limit: "0" }],
      unified: {},
      memory_swap_limit_in_bytes: "0",
    },
    security_context: {
      ...secCtx(),
      privileged: true,
      masked_paths: ["/proc/ignored"],
      seccomp_profile_path: "runtime/default",
    },
  };
  return {
    id: "agent1",
    config,
    image: { Entrypoint: ["/agent"], Cmd: ["run"], Env: ["HOME=/var/agent"] },
    sandbox: {
      ...sandbox,
      privileged: true,
      hostNetwork: true,
      hostIpc: true,
      utsnsPath: null,
      shmPath: null,
      cgroupParent: "kubepods-besteffort-podxyz.slice",
      sysctls: {},
    },
    rootfs: "/b/agent/rootfs",
    user: rootUser,
    pidNamespace: "host",
    cgroupDriver: "systemd",
    cgroupV2: false,
    oomScoreAdjFloor: -100,
    host,
    hugetlbAvailable: false,
    availableCapabilities: ["CAP_CHOWN", "CAP_KILL", "CAP_SYS_ADMIN", "CAP_NET_ADMIN"],
  };
}

/** A plain container in the pod, with `over` laid over it. */
export function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: "c1",
    config: containerConfig({ command: ["sh"] }),
    image: {},
    sandbox,
    rootfs: "/b/rootfs",
    user: rootUser,
    pidNamespace: null,
    cgroupDriver: "cgroupfs",
    cgroupV2: false,
    oomScoreAdjFloor: 0,
    host,
    ...over,
  };
}
