/** Derived paths: one place decides where things live under root_dir and state_dir. */
import type { Config } from "./schema.ts";

export function adminTokenFile(c: Config): string {
  return c.admin.token_file || `${c.root_dir}/admin.token`;
}
export function auditLogFile(c: Config): string {
  return c.admin.audit_log || `${c.root_dir}/audit.log`;
}
export function cniCacheDir(c: Config): string {
  return c.network.cni_cache_dir || `${c.root_dir}/cni/cache`;
}
export function runtimeRoot(c: Config, handler: string): string {
  return c.runtime.handlers[handler]?.root || `${c.state_dir}/runtimes/${handler}`;
}
export function databaseFile(c: Config): string {
  return `${c.root_dir}/skiff.db`;
}
