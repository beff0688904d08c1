/**
 * The OCI runtime spec shapes Skiff writes (a subset of config.json), what building one
 * takes, and the shape of a spec option: one function per concern, applied in order.
 */
import type { ContainerConfig, LinuxContainerSecurityContext } from "../model.ts";
import type { ImageRuntimeConfig, SandboxForContainer } from "../contracts.ts";
import type { SeccompProfile } from "./seccomp.ts";
import type { ResolvedUser } from "./user.ts";

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

/** The OCI runtime-spec `linux.resources` subset CRI can set. */
export interface OciLinuxResources {
  memory?: { limit?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: Record<string, string>;
}

/** `linux.resources` of a spec: what CRI sets, after the device cgroup rules. */
export interface OciResources extends OciLinuxResources {
  devices: OciDeviceRule[];
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
    uidMappings?: OciIdMapping[];
    gidMappings?: OciIdMapping[];
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

/** One line of a user namespace's uid or gid map, as the OCI spec puts it. */
export interface OciIdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

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

/** The input with what several options derive from it, worked out once. */
export interface SpecContext extends SpecInput {
  securityContext: LinuxContainerSecurityContext | null;
  privileged: boolean;
  /** The container's capability set (bounding, effective, permitted); seccomp follows it. */
  capabilities: string[];
}

/**
 * One concern of the spec: fills in its part of `spec`, or throws a domain error when the
 * config asks for what cannot be given. Options run in order, so the first rule broken is
 * the one reported.
 */
export type SpecOption = (spec: OciSpec, ctx: SpecContext) => void;
