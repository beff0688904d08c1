/** Skiff's configuration and readiness as the Status and RuntimeConfig replies put them. */
import type { Config } from "../../core/config/mod.ts";
import type { CgroupDriver, RuntimeCondition, RuntimeHandler } from "../types.ts";

/** A readiness as the runtime and the network report theirs. */
export interface Readiness {
  ready: boolean;
  reason: string;
  message: string;
}

export function runtimeConditions(runtime: Readiness, network: Readiness): RuntimeCondition[] {
  return [
    {
      type: "RuntimeReady",
      status: runtime.ready,
      reason: runtime.reason,
      message: runtime.message,
    },
    {
      type: "NetworkReady",
      status: network.ready,
      reason: network.reason,
      message: network.message,
    },
  ];
}

/**
 * Every configured handler with its features. As containerd does, the default handler is
 * also listed under the empty name, which is the one kubelet looks up for pods without a
 * RuntimeClass.
 */
export function runtimeHandlers(config: Config): RuntimeHandler[] {
  const handlers = config.runtime.handlers;
  const named = [
    ["", handlers[config.runtime.default_handler]] as const,
    ...Object.entries(handlers),
  ];
  return named.map(([name, h]) => ({
    name,
    features: { recursive_read_only_mounts: true, user_namespaces: h.user_namespaces },
  }));
}

export function cgroupDriver(config: Config): CgroupDriver {
  return config.cgroup_driver === "systemd" ? "SYSTEMD" : "CGROUPFS";
}
