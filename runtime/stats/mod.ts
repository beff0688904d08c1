/** Resource usage readers: cgroups (v1, v2), network namespaces, writable layers. */
export * from "./types.ts";
export * from "./cgroup.ts";
export * from "./rate.ts";
export * from "./network.ts";
export * from "./fs_usage.ts";
export * from "./collector.ts";
