/**
 * Whether pods can get a network: true once a CNI config exists in the conf dir, or the
 * built-in default network is on. Checked on every call, so a config that appears later
 * turns the network ready without a restart.
 */
import type { Config } from "../core/config/mod.ts";

export interface NetworkReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

export const CNI_CONFIG_EXTENSIONS = [".conflist", ".conf", ".json"];

/** CNI config files in the conf dir, sorted by name (the first one is used). */
export function listCniConfigFiles(confDir: string): string[] {
  const names: string[] = [];
  try {
    for (const e of Deno.readDirSync(confDir)) {
      if ((e.isFile || e.isSymlink) && CNI_CONFIG_EXTENSIONS.some((x) => e.name.endsWith(x))) {
        names.push(e.name);
      }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort().map((n) => `${confDir}/${n}`);
}

export function networkReadiness(config: Config): NetworkReadiness {
  if (config.network.default === "bridge") {
    return { ready: true, reason: "", message: "" };
  }
  let files: string[];
  try {
    files = listCniConfigFiles(config.network.cni_conf_dir);
  } catch (err) {
    return {
      ready: false,
      reason: "NetworkPluginNotReady",
      message: `cannot read CNI config dir ${config.network.cni_conf_dir}: ${
        (err as Error).message
      }`,
    };
  }
  if (files.length === 0) {
    return {
      ready: false,
      reason: "NetworkPluginNotReady",
      message:
        `Network plugin returns error: no CNI config found in ${config.network.cni_conf_dir} ` +
        `(install a CNI config, or set [network] default = "bridge")`,
    };
  }
  return { ready: true, reason: "", message: "" };
}
