/** Finding the binaries Skiff drives (runc, conmon, …) and whether the runtime can run. */
import type { Config } from "../core/config/mod.ts";

/**
 * Paths found by findBinary, by PATH and name, with when they were found. A search costs a
 * failed stat (an exception) per PATH entry before the right one, ~0.1 ms with a long PATH,
 * and every runc call resolves its binary: a hit costs one stat, to see it is still there.
 */
const found = new Map<string, { path: string; at: number }>();
/** How long a found path is used before PATH is searched again (one put earlier in PATH wins). */
const FOUND_TTL_MS = 10_000;

function isExecutableFile(p: string): boolean {
  try {
    const st = Deno.statSync(p);
    return st.isFile && st.mode !== null && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** Resolves a command name against PATH (or checks an absolute path). */
export function findBinary(name: string, path = Deno.env.get("PATH") ?? ""): string | null {
  if (name.includes("/")) return isExecutableFile(name) ? name : null;
  const key = `${path}\0${name}`;
  const hit = found.get(key);
  if (hit && performance.now() - hit.at < FOUND_TTL_MS && isExecutableFile(hit.path)) {
    return hit.path;
  }
  found.delete(key);
  for (const dir of path.split(":").filter(Boolean)) {
    const c = `${dir}/${name}`;
    if (!isExecutableFile(c)) continue;
    found.set(key, { path: c, at: performance.now() });
    return c;
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
