/**
 * The pod and container configuration the runtime acts on and persists in its records.
 *
 * These are Skiff's own types: nothing below cri/ imports the wire layer, and cri/convert/
 * builds these from protobuf messages field by field, so a change of the CRI schema cannot
 * silently change what the store holds. Field names follow CRI v1's (snake_case) on purpose:
 * records written by every earlier Skiff load unchanged, with no migration of the store.
 * Windows-only parts of the CRI messages are not carried.
 */

/** 64-bit integers travel as decimal strings (they exceed 2^53). */
export type Int64 = string;

export type Protocol = "TCP" | "UDP" | "SCTP";

export type MountPropagation =
  | "PROPAGATION_PRIVATE"
  | "PROPAGATION_HOST_TO_CONTAINER"
  | "PROPAGATION_BIDIRECTIONAL";

export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

export type SupplementalGroupsPolicy = "Merge" | "Strict";

export type ProfileType = "RuntimeDefault" | "Unconfined" | "Localhost";

export type PodSandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";

export type Signal =
  | "RUNTIME_DEFAULT"
  | "SIGABRT"
  | "SIGALRM"
  | "SIGBUS"
  | "SIGCHLD"
  | "SIGCLD"
  | "SIGCONT"
  | "SIGFPE"
  | "SIGHUP"
  | "SIGILL"
  | "SIGINT"
  | "SIGIO"
  | "SIGIOT"
  | "SIGKILL"
  | "SIGPIPE"
  | "SIGPOLL"
  | "SIGPROF"
  | "SIGPWR"
  | "SIGQUIT"
  | "SIGSEGV"
  | "SIGSTKFLT"
  | "SIGSTOP"
  | "SIGSYS"
  | "SIGTERM"
  | "SIGTRAP"
  | "SIGTSTP"
  | "SIGTTIN"
  | "SIGTTOU"
  | "SIGURG"
  | "SIGUSR1"
  | "SIGUSR2"
  | "SIGVTALRM"
  | "SIGWINCH"
  | "SIGXCPU"
  | "SIGXFSZ"
  | "SIGRTMIN"
  | "SIGRTMINPLUS1"
  | "SIGRTMINPLUS2"
  | "SIGRTMINPLUS3"
  | "SIGRTMINPLUS4"
  | "SIGRTMINPLUS5"
  | "SIGRTMINPLUS6"
  | "SIGRTMINPLUS7"
  | "SIGRTMINPLUS8"
  | "SIGRTMINPLUS9"
  | "SIGRTMINPLUS10"
  | "SIGRTMINPLUS11"
  | "SIGRTMINPLUS12"
  | "SIGRTMINPLUS13"
  | "SIGRTMINPLUS14"
  | "SIGRTMINPLUS15"
  | "SIGRTMAXMINUS14"
  | "SIGRTMAXMINUS13"
  | "SIGRTMAXMINUS12"
  | "SIGRTMAXMINUS11"
  | "SIGRTMAXMINUS10"
  | "SIGRTMAXMINUS9"
  | "SIGRTMAXMINUS8"
  | "SIGRTMAXMINUS7"
  | "SIGRTMAXMINUS6"
  | "SIGRTMAXMINUS5"
  | "SIGRTMAXMINUS4"
  | "SIGRTMAXMINUS3"
  | "SIGRTMAXMINUS2"
  | "SIGRTMAXMINUS1"
  | "SIGRTMAX";

export interface DNSConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface PortMapping {
  protocol: Protocol;
  container_port: number;
  host_port: number;
  host_ip: string;
}

export interface Mount {
  container_path: string;
  host_path: string;
  readonly: boolean;
  selinux_relabel: boolean;
  propagation: MountPropagation;
  uidMappings: IDMapping[];
  gidMappings: IDMapping[];
  recursive_read_only: boolean;
  image?: ImageSpec | null;
  image_sub_path: string;
}

export interface IDMapping {
  host_id: number;
  container_id: number;
  length: number;
}

export interface UserNamespace {
  mode: NamespaceMode;
  uids: IDMapping[];
  gids: IDMapping[];
}

export interface NamespaceOption {
  network: NamespaceMode;
  pid: NamespaceMode;
  ipc: NamespaceMode;
  target_id: string;
  userns_options?: UserNamespace | null;
}

export interface Int64Value {
  value: Int64;
}

export interface LinuxSandboxSecurityContext {
  namespace_options?: NamespaceOption | null;
  selinux_options?: SELinuxOption | null;
  run_as_user?: Int64Value | null;
  run_as_group?: Int64Value | null;
  readonly_rootfs: boolean;
  supplemental_groups: Int64[];
  supplemental_groups_policy: SupplementalGroupsPolicy;
  privileged: boolean;
  seccomp?: SecurityProfile | null;
  apparmor?: SecurityProfile | null;
  seccomp_profile_path: string;
}

export interface SecurityProfile {
  profile_type: ProfileType;
  localhost_ref: string;
}

export interface LinuxPodSandboxConfig {
  cgroup_parent: string;
  security_context?: LinuxSandboxSecurityContext | null;
  sysctls: Record<string, string>;
  overhead?: LinuxContainerResources | null;
  resources?: LinuxContainerResources | null;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodSandboxConfig {
  metadata?: PodSandboxMetadata | null;
  hostname: string;
  log_directory: string;
  dns_config?: DNSConfig | null;
  port_mappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  linux?: LinuxPodSandboxConfig | null;
}

export interface ImageSpec {
  image: string;
  annotations: Record<string, string>;
  user_specified_image: string;
  runtime_handler: string;
  image_ref: string;
}

export interface KeyValue {
  key: string;
  value: Uint8Array;
}

export interface LinuxContainerResources {
  cpu_period: Int64;
  cpu_quota: Int64;
  cpu_shares: Int64;
  memory_limit_in_bytes: Int64;
  oom_score_adj: Int64;
  cpuset_cpus: string;
  cpuset_mems: string;
  hugepage_limits: HugepageLimit[];
  unified: Record<string, string>;
  memory_swap_limit_in_bytes: Int64;
}

export interface HugepageLimit {
  page_size: string;
  limit: Int64;
}

export interface SELinuxOption {
  user: string;
  role: string;
  type: string;
  level: string;
}

export interface Capability {
  add_capabilities: string[];
  drop_capabilities: string[];
  add_ambient_capabilities: string[];
}

export interface LinuxContainerSecurityContext {
  capabilities?: Capability | null;
  privileged: boolean;
  namespace_options?: NamespaceOption | null;
  selinux_options?: SELinuxOption | null;
  run_as_user?: Int64Value | null;
  run_as_group?: Int64Value | null;
  run_as_username: string;
  readonly_rootfs: boolean;
  supplemental_groups: Int64[];
  supplemental_groups_policy: SupplementalGroupsPolicy;
  no_new_privs: boolean;
  masked_paths: string[];
  readonly_paths: string[];
  seccomp?: SecurityProfile | null;
  apparmor?: SecurityProfile | null;
  apparmor_profile: string;
  seccomp_profile_path: string;
}

export interface LinuxContainerConfig {
  resources?: LinuxContainerResources | null;
  security_context?: LinuxContainerSecurityContext | null;
}

export interface ContainerMetadata {
  name: string;
  attempt: number;
}

export interface Device {
  container_path: string;
  host_path: string;
  permissions: string;
}

export interface CDIDevice {
  name: string;
}

export interface ContainerConfig {
  metadata?: ContainerMetadata | null;
  image?: ImageSpec | null;
  command: string[];
  args: string[];
  working_dir: string;
  envs: KeyValue[];
  mounts: Mount[];
  devices: Device[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  log_path: string;
  stdin: boolean;
  stdin_once: boolean;
  tty: boolean;
  linux?: LinuxContainerConfig | null;
  CDI_devices: CDIDevice[];
  stop_signal: Signal;
}
