/**
 * The OCI runtime spec (config.json) of a container: built from the image config and the
 * CRI ContainerConfig by composable spec options, with the pieces it is made of (user
 * resolution, seccomp profiles, capability sets, resources).
 */
export {
  ALL_CAPABILITIES,
  buildSpec,
  capabilitySet,
  clampOomScoreAdj,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  type OciDevice,
  type OciDeviceRule,
  type OciMount,
  type OciResources,
  type OciSpec,
  processArgs,
  processEnv,
  type SpecHost,
  type SpecInput,
} from "./build.ts";
export {
  defaultSeccompProfile,
  loadLocalhostProfile,
  type SeccompArg,
  type SeccompProfile,
  type SeccompSyscall,
} from "./seccomp.ts";
export {
  type GroupEntry,
  parseGroup,
  parsePasswd,
  type PasswdEntry,
  type ResolvedUser,
  resolveInRoot,
  resolveUser,
  type UserRequest,
} from "./user.ts";
export {
  applyResources,
  mergeResources,
  MIN_MEMORY_LIMIT,
  type OciLinuxResources,
  type ResourceUpdateTarget,
  toOciResources,
} from "./resources.ts";
