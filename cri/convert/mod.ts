/**
 * Translation between CRI protobuf messages (cri/types.ts) and Skiff's domain: requests
 * become runtime/model.ts configuration, records become replies. Pure functions; the
 * handlers call a service and these, nothing more.
 */
export {
  containerConfig,
  imageSpec,
  linuxResources,
  optionalLinuxResources,
  podSandboxConfig,
  pullAuth,
} from "./config.ts";
export {
  containerEntry,
  containerStatus,
  containerVerboseInfo,
  stopSignalName,
} from "./container.ts";
export { podSandboxEntry, podSandboxStatus } from "./sandbox.ts";
export { filesystemUsage, image, imageUser } from "./image.ts";
export { containerStats, imageFsInfo, podSandboxStats } from "./stats.ts";
export { metricDescriptors, METRICS, podSandboxMetrics } from "./metrics.ts";
export {
  containerListFilter,
  containerStatsFilter,
  imageListFilter,
  labelsMatch,
  pages,
  podSandboxListFilter,
  podSandboxStatsFilter,
} from "./list.ts";
export {
  cgroupDriver,
  type Readiness,
  runtimeConditions,
  runtimeHandlers,
} from "./runtime_info.ts";
export { type Given, nanos, nanosOrZero } from "./values.ts";
