/**
 * The OCI runtime spec (config.json) of a container: built from the image config and the
 * CRI ContainerConfig by composable spec options, with the pieces it is made of (user
 * resolution, seccomp profiles, capability sets, resources).
 */
export { buildSpec } from "./build.ts";
export { ALL_CAPABILITIES, capabilitySet, DEFAULT_CAPABILITIES } from "./capabilities.ts";
export { processArgs, processEnv } from "./process.ts";
export { clampOomScoreAdj, mergeResources, MIN_MEMORY_LIMIT, toOciResources } from "./resources.ts";
export { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "./security.ts";
export {
  defaultSeccompProfile,
  loadLocalhostProfile,
  type SeccompArg,
  type SeccompProfile,
  type SeccompSyscall,
} from "./seccomp.ts";
export type {
  OciDevice,
  OciDeviceRule,
  OciLinuxResources,
  OciMount,
  OciResources,
  OciSpec,
  SpecHost,
  SpecInput,
} from "./types.ts";
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
