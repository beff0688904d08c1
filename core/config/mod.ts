/**
 * Skiff's configuration: `/etc/skiff/config.toml` (or `--config`). Every key is optional.
 *
 * One schema (schema.ts) drives everything: the `Config` type, the defaults, validation
 * (load.ts) and the commented default file (render.ts).
 */
export {
  type Config,
  CONFIG_SCHEMA,
  DEFAULT_CONFIG_PATH,
  type RegistryConfig,
  type RuntimeHandlerConfig,
} from "./schema.ts";
export { ConfigError, defaultConfig, loadConfig, parseConfig, parseHostPort } from "./load.ts";
export { adminTokenFile, auditLogFile, cniCacheDir, databaseFile, runtimeRoot } from "./paths.ts";
export { redactedConfig, renderDefaultConfig } from "./render.ts";
