/** Version, Status, RuntimeConfig, UpdateRuntimeConfig. */
import { type Config, redactedConfig } from "../../core/config/mod.ts";
import type { Logger } from "../../core/log.ts";
import {
  KUBE_API_VERSION,
  RUNTIME_API_VERSION,
  RUNTIME_NAME,
  SKIFF_VERSION,
} from "../../core/version.ts";
import type { NetworkReadiness, PodCidr } from "../../network/mod.ts";
import type { CriHandlers } from "../handler.ts";

export interface RuntimeInfoDeps {
  config: () => Config;
  network: () => NetworkReadiness;
  runtime: () => { ready: boolean; reason: string; message: string };
  podCidr: PodCidr;
  log: Logger;
}

export function runtimeInfoHandlers(deps: RuntimeInfoDeps): CriHandlers {
  return {
    Version: async () => ({
      version: KUBE_API_VERSION,
      runtime_name: RUNTIME_NAME,
      runtime_version: SKIFF_VERSION,
      runtime_api_version: RUNTIME_API_VERSION,
    }),

    Status: async (req) => {
      const config = deps.config();
      const rt = deps.runtime();
      const net = deps.network();
      const handlers = Object.entries(config.runtime.handlers);
      const defaultHandler = config.runtime.handlers[config.runtime.default_handler];
      // As containerd does: the default handler is also listed under the empty name,
      // which is the one kubelet looks up for pods without a RuntimeClass.
      const runtimeHandlers = [
        ["", defaultHandler] as const,
        ...handlers,
      ].map(([name, h]) => ({
        name,
        features: { recursive_read_only_mounts: true, user_namespaces: h.user_namespaces },
      }));
      return {
        status: {
          conditions: [
            { type: "RuntimeReady", status: rt.ready, reason: rt.reason, message: rt.message },
            { type: "NetworkReady", status: net.ready, reason: net.reason, message: net.message },
          ],
        },
        info: req.verbose
          ? {
            config: JSON.stringify(redactedConfig(config)),
            podCIDRs: JSON.stringify(deps.podCidr.get()),
          }
          : {},
        runtime_handlers: runtimeHandlers,
        features: { supplemental_groups_policy: true, user_namespaces_host_network: false },
      };
    },

    RuntimeConfig: async () => ({
      linux: { cgroup_driver: deps.config().cgroup_driver === "systemd" ? "SYSTEMD" : "CGROUPFS" },
    }),

    UpdateRuntimeConfig: async (req) => {
      const cidr = req.runtime_config?.network_config?.pod_cidr ?? "";
      if (deps.podCidr.set(cidr)) deps.log.info("pod CIDR updated", { pod_cidr: cidr });
      return {};
    },
  };
}
