/**
 * CRI request messages → the domain configuration the runtime persists (runtime/model.ts),
 * built field by field: a field the model does not name (Windows parts, fields a newer CRI
 * adds) never lands in a record, and every field the model names is present, with the
 * proto3 default where the caller left it out.
 */
import type * as cri from "../types.ts";
import type * as model from "../../runtime/model.ts";
import type { CriAuth } from "../../image/registry/auth.ts";
import {
  bool,
  each,
  enumOr,
  type Given,
  int64,
  num,
  opt,
  str,
  stringMap,
  strings,
} from "./values.ts";

type In<T> = NonNullable<Given<T>>;

export function imageSpec(s: In<cri.ImageSpec>): model.ImageSpec {
  return {
    image: str(s.image),
    annotations: stringMap(s.annotations),
    user_specified_image: str(s.user_specified_image),
    runtime_handler: str(s.runtime_handler),
    image_ref: str(s.image_ref),
  };
}

function idMapping(m: In<cri.IDMapping>): model.IDMapping {
  return { host_id: num(m.host_id), container_id: num(m.container_id), length: num(m.length) };
}

function mount(m: In<cri.Mount>): model.Mount {
  return {
    container_path: str(m.container_path),
    host_path: str(m.host_path),
    readonly: bool(m.readonly),
    selinux_relabel: bool(m.selinux_relabel),
    propagation: enumOr(m.propagation, "PROPAGATION_PRIVATE"),
    uidMappings: each(m.uidMappings, idMapping),
    gidMappings: each(m.gidMappings, idMapping),
    recursive_read_only: bool(m.recursive_read_only),
    image: opt(m.image, imageSpec),
    image_sub_path: str(m.image_sub_path),
  };
}

function namespaceOption(n: In<cri.NamespaceOption>): model.NamespaceOption {
  return {
    network: enumOr(n.network, "POD"),
    pid: enumOr(n.pid, "POD"),
    ipc: enumOr(n.ipc, "POD"),
    target_id: str(n.target_id),
    userns_options: opt(n.userns_options, (u) => ({
      mode: enumOr(u.mode, "POD"),
      uids: each(u.uids, idMapping),
      gids: each(u.gids, idMapping),
    })),
  };
}

function selinuxOption(s: In<cri.SELinuxOption>): model.SELinuxOption {
  return { user: str(s.user), role: str(s.role), type: str(s.type), level: str(s.level) };
}

function securityProfile(p: In<cri.SecurityProfile>): model.SecurityProfile {
  return {
    profile_type: enumOr(p.profile_type, "RuntimeDefault"),
    localhost_ref: str(p.localhost_ref),
  };
}

function int64Value(v: In<cri.Int64Value>): model.Int64Value {
  return { value: int64(v.value) };
}

/** Security settings a pod and a container both carry, under the same names. */
function commonSecurity(
  s: In<cri.LinuxSandboxSecurityContext | cri.LinuxContainerSecurityContext>,
) {
  return {
    namespace_options: opt(s.namespace_options, namespaceOption),
    selinux_options: opt(s.selinux_options, selinuxOption),
    run_as_user: opt(s.run_as_user, int64Value),
    run_as_group: opt(s.run_as_group, int64Value),
    readonly_rootfs: bool(s.readonly_rootfs),
    supplemental_groups: (s.supplemental_groups ?? []).map(int64),
    supplemental_groups_policy: enumOr(s.supplemental_groups_policy, "Merge"),
    privileged: bool(s.privileged),
    seccomp: opt(s.seccomp, securityProfile),
    apparmor: opt(s.apparmor, securityProfile),
    seccomp_profile_path: str(s.seccomp_profile_path),
  };
}

export function linuxResources(r: In<cri.LinuxContainerResources>): model.LinuxContainerResources {
  return {
    cpu_period: int64(r.cpu_period),
    cpu_quota: int64(r.cpu_quota),
    cpu_shares: int64(r.cpu_shares),
    memory_limit_in_bytes: int64(r.memory_limit_in_bytes),
    oom_score_adj: int64(r.oom_score_adj),
    cpuset_cpus: str(r.cpuset_cpus),
    cpuset_mems: str(r.cpuset_mems),
    hugepage_limits: each(r.hugepage_limits, (h) => ({
      page_size: str(h.page_size),
      limit: int64(h.limit),
    })),
    unified: stringMap(r.unified),
    memory_swap_limit_in_bytes: int64(r.memory_swap_limit_in_bytes),
  };
}

/** Resources of an update request; null (nothing to change) when it carries none. */
export function optionalLinuxResources(
  r: Given<cri.LinuxContainerResources>,
): model.LinuxContainerResources | null {
  return opt(r, linuxResources);
}

// ---------------------------------------------------------------------------------------
// Pod sandbox

function linuxPodSandboxConfig(l: In<cri.LinuxPodSandboxConfig>): model.LinuxPodSandboxConfig {
  return {
    cgroup_parent: str(l.cgroup_parent),
    security_context: opt(l.security_context, commonSecurity),
    sysctls: stringMap(l.sysctls),
    overhead: opt(l.overhead, linuxResources),
    resources: opt(l.resources, linuxResources),
  };
}

/** RunPodSandbox's config, without its Windows part. */
export function podSandboxConfig(c: In<cri.PodSandboxConfig>): model.PodSandboxConfig {
  return {
    metadata: opt(c.metadata, (m) => ({
      name: str(m.name),
      uid: str(m.uid),
      namespace: str(m.namespace),
      attempt: num(m.attempt),
    })),
    hostname: str(c.hostname),
    log_directory: str(c.log_directory),
    dns_config: opt(c.dns_config, (d) => ({
      servers: strings(d.servers),
      searches: strings(d.searches),
      options: strings(d.options),
    })),
    port_mappings: each(c.port_mappings, (p) => ({
      protocol: enumOr(p.protocol, "TCP"),
      container_port: num(p.container_port),
      host_port: num(p.host_port),
      host_ip: str(p.host_ip),
    })),
    labels: stringMap(c.labels),
    annotations: stringMap(c.annotations),
    linux: opt(c.linux, linuxPodSandboxConfig),
  };
}

// ---------------------------------------------------------------------------------------
// Container

function containerSecurity(
  s: In<cri.LinuxContainerSecurityContext>,
): model.LinuxContainerSecurityContext {
  return {
    ...commonSecurity(s),
    capabilities: opt(s.capabilities, (c) => ({
      add_capabilities: strings(c.add_capabilities),
      drop_capabilities: strings(c.drop_capabilities),
      add_ambient_capabilities: strings(c.add_ambient_capabilities),
    })),
    run_as_username: str(s.run_as_username),
    no_new_privs: bool(s.no_new_privs),
    masked_paths: strings(s.masked_paths),
    readonly_paths: strings(s.readonly_paths),
    apparmor_profile: str(s.apparmor_profile),
  };
}

/** CreateContainer's config, without its Windows part. */
export function containerConfig(c: In<cri.ContainerConfig>): model.ContainerConfig {
  return {
    metadata: opt(c.metadata, (m) => ({ name: str(m.name), attempt: num(m.attempt) })),
    image: opt(c.image, imageSpec),
    command: strings(c.command),
    args: strings(c.args),
    working_dir: str(c.working_dir),
    envs: each(c.envs, (e) => ({ key: str(e.key), value: e.value ?? new Uint8Array() })),
    mounts: each(c.mounts, mount),
    devices: each(c.devices, (d) => ({
      container_path: str(d.container_path),
      host_path: str(d.host_path),
      permissions: str(d.permissions),
    })),
    labels: stringMap(c.labels),
    annotations: stringMap(c.annotations),
    log_path: str(c.log_path),
    stdin: bool(c.stdin),
    stdin_once: bool(c.stdin_once),
    tty: bool(c.tty),
    linux: opt(c.linux, (l) => ({
      resources: opt(l.resources, linuxResources),
      security_context: opt(l.security_context, containerSecurity),
    })),
    CDI_devices: each(c.CDI_devices, (d) => ({ name: str(d.name) })),
    stop_signal: enumOr(c.stop_signal, "RUNTIME_DEFAULT"),
  };
}

// ---------------------------------------------------------------------------------------
// Image

/** PullImage's credentials, as the registry client takes them. */
export function pullAuth(a: Given<cri.AuthConfig>): CriAuth | null {
  if (!a) return null;
  return {
    username: str(a.username),
    password: str(a.password),
    auth: str(a.auth),
    identity_token: str(a.identity_token),
    registry_token: str(a.registry_token),
  };
}
