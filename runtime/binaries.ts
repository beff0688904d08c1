/** Finding the binaries Skiff drives (runc, conmon, …) and whether the runtime can run. */
import type { Config } from "../core/config/mod.ts";

/** Resolves a command name against PATH (or checks an absolute path). */
export function findBinary(name: string, path = Deno.env.get("PATH") ?? ""): string | null {
  const candidates = name.includes("/")
    ? [name]
    : path.split(":").filter(Boolean).map((d) => `${d}/${name}`);
  for (const c of candidates) {
    try {
      const st = Deno.statSync(c);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return c;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

/**
 * A binary's path through PATH, for children that are given a path (conmon is given the
 * OCI runtime's); the name itself when it is not found.
 */
export function resolveBinary(name: string): string {
  return findBinary(name, Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin") ?? name;
}

export interface RuntimeReadiness {
  ready: boolean;
  reason: string;
  message: string;
}

export function runtimeReadiness(config: Config): RuntimeReadiness {
  const missing: string[] = [];
  const handler = config.runtime.handlers[config.runtime.default_handler];
  if (handler && !findBinary(handler.binary)) {
    missing.push(`OCI runtime "${handler.binary}" (handler ${config.runtime.default_handler})`);
  }
  if (!findBinary(config.runtime.conmon)) missing.push(`conmon "${config.runtime.conmon}"`);
  if (missing.length) {
    return {
      ready: false,
      reason: "RuntimeBinaryMissing",
      message: `not found in PATH: ${missing.join(", ")}`,
    };
  }
  return { ready: true, reason: "", message: "" };
}
