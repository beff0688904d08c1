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
import { type UsernsSupport, usernsSupport } from "../../runtime/sandbox/mod.ts";
import type { CriHandlers } from "../handler.ts";
import {
  cgroupDriver,
  type Readiness,
  runtimeConditions,
  runtimeHandlers,
} from "../convert/mod.ts";

export interface RuntimeInfoDeps {
  config: () => Config;
  network: () => NetworkReadiness;
  runtime: () => Readiness;
  podCidr: PodCidr;
  log: Logger;
}

/** Per handler: whether its pods may have their own user namespace here, and why not. */
async function usernsByHandler(config: Config): Promise<Record<string, UsernsSupport>> {
  const names = Object.keys(config.runtime.handlers);
  const found = await Promise.all(names.map((n) => usernsSupport(config, n)));
  return Object.fromEntries(names.map((n, i) => [n, found[i]]));
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
      const userns = await usernsByHandler(config);
      return {
        status: { conditions: runtimeConditions(deps.runtime(), deps.network()) },
        info: req.verbose
          ? {
            config: JSON.stringify(redactedConfig(config)),
            podCIDRs: JSON.stringify(deps.podCidr.get()),
            userNamespaces: JSON.stringify(userns),
          }
          : {},
        runtime_handlers: runtimeHandlers(
          config,
          Object.fromEntries(Object.entries(userns).map(([k, v]) => [k, v.supported])),
        ),
        features: { supplemental_groups_policy: true, user_namespaces_host_network: false },
      };
    },

    RuntimeConfig: async () => ({
      linux: { cgroup_driver: cgroupDriver(deps.config()) },
    }),

    UpdateRuntimeConfig: async (req) => {
      const cidr = req.runtime_config?.network_config?.pod_cidr ?? "";
      if (deps.podCidr.set(cidr)) deps.log.info("pod CIDR updated", { pod_cidr: cidr });
      return {};
    },
  };
}
