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
 * RuntimeClass. `userns` says, per handler name, whether its pods may have their own user
 * namespace on this node (configured and probed); a handler it does not name may not.
 */
export function runtimeHandlers(
  config: Config,
  userns: Record<string, boolean> = {},
): RuntimeHandler[] {
  const handlers = config.runtime.handlers;
  const named = [
    ["", config.runtime.default_handler] as const,
    ...Object.keys(handlers).map((name) => [name, name] as const),
  ];
  return named.map(([name, key]) => ({
    name,
    features: { recursive_read_only_mounts: true, user_namespaces: userns[key] === true },
  }));
}

export function cgroupDriver(config: Config): CgroupDriver {
  return config.cgroup_driver === "systemd" ? "SYSTEMD" : "CGROUPFS";
}
