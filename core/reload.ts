/**
 * Config reload (SIGHUP), as CRI-O does: what can change under a running Skiff is applied
 * in place on the one Config object every service holds (or reads through `() => config`),
 * so the next pull, the next pod and the next log line see it; every other changed key is
 * reported as needing a restart and keeps its running value.
 */
import type { Config } from "./config/mod.ts";

/**
 * Keys applied live, as dotted paths. Maps (registries, handlers) are one key each: a
 * handler or registry entry is replaced whole.
 */
export const LIVE_KEYS = [
  "log_level",
  "log_format",
  "image.registries",
  "image.pinned",
  "runtime.handlers",
  "runtime.default_handler",
] as const;

const MAP_KEYS = new Set(["image.registries", "runtime.handlers"]);

export interface ReloadResult {
  /** Live keys whose value changed and was applied. */
  applied: string[];
  /** Changed keys that only take effect after a restart (running value kept). */
  restartNeeded: string[];
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Dotted leaf paths of a config, maps kept whole. */
function leaves(t: Tree, prefix = "", out = new Map<string, unknown>()): Map<string, unknown> {
  for (const [k, v] of Object.entries(t)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (isTree(v) && !MAP_KEYS.has(path)) leaves(v, path, out);
    else out.set(path, v);
  }
  return out;
}

function setPath(t: Tree, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = t;
  for (const p of parts.slice(0, -1)) node = node[p] as Tree;
  node[parts.at(-1)!] = structuredClone(value);
}

/** Applies the live keys of `next` onto `current` in place; reports what changed. */
export function applyReload(current: Config, next: Config): ReloadResult {
  const before = leaves(current as unknown as Tree);
  const after = leaves(next as unknown as Tree);
  const live = new Set<string>(LIVE_KEYS);
  const result: ReloadResult = { applied: [], restartNeeded: [] };
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    if (JSON.stringify(before.get(path)) === JSON.stringify(after.get(path))) continue;
    if (live.has(path)) {
      setPath(current as unknown as Tree, path, after.get(path));
      result.applied.push(path);
    } else {
      result.restartNeeded.push(path);
    }
  }
  return result;
}
