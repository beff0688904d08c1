/**
 * UpdateContainerResources: CRI resources validated (bad values are INVALID_ARGUMENT, named
 * and explained), turned into the OCI `LinuxResources` that `runc update --resources`
 * takes, applied to a running container, and written into the bundle's config.json so the
 * spec on disk matches what the container has.
 */
import { FailedPreconditionError, InternalError, InvalidArgumentError } from "../../core/errors.ts";
import type { LinuxContainerResources } from "../model.ts";
import type { ContainerStateName } from "../contracts.ts";

/** The OCI runtime-spec `linux.resources` subset CRI can set. */
export interface OciLinuxResources {
  memory?: { limit?: number; swap?: number };
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string };
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: Record<string, string>;
}

const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const PAGE_SIZE = /^\d+(KB|MB|GB|TB|PB)$/;
/** runc refuses memory limits below this (the kernel needs room for the task itself). */
export const MIN_MEMORY_LIMIT = 6 * 1024 * 1024;

function int(field: string, v: string | number | undefined | null): number {
  const s = String(v ?? "0").trim() || "0";
  if (!/^-?\d+$/.test(s)) throw new InvalidArgumentError(`${field} "${s}" is not an integer`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${field} ${s} is out of range`);
  return n;
}

/**
 * Checks CRI resources and converts them. Zero means "not set", as in CRI. Throws
 * InvalidArgumentError naming the field, the value and what is allowed.
 */
export function toOciResources(
  r: LinuxContainerResources,
  opts: { cgroupV2: boolean },
): OciLinuxResources {
  const out: OciLinuxResources = {};
  const memory = int("memory_limit_in_bytes", r.memory_limit_in_bytes);
  const swap = int("memory_swap_limit_in_bytes", r.memory_swap_limit_in_bytes);
  if (memory < 0) {
    throw new InvalidArgumentError(
      `memory_limit_in_bytes ${memory} is negative; give a limit in bytes, or 0 for none`,
    );
  }
  if (memory > 0 && memory < MIN_MEMORY_LIMIT) {
    throw new InvalidArgumentError(
      `memory_limit_in_bytes ${memory} is below the minimum of ${MIN_MEMORY_LIMIT} bytes (6 MiB)`,
    );
  }
  if (swap < -1) {
    throw new InvalidArgumentError(
      `memory_swap_limit_in_bytes ${swap} is invalid; give bytes, -1 for unlimited or 0 for unset`,
    );
  }
  if (swap > 0 && memory > 0 && swap < memory) {
    throw new InvalidArgumentError(
      `memory_swap_limit_in_bytes ${swap} is below memory_limit_in_bytes ${memory}; ` +
        `the swap limit counts memory plus swap, so it must be at least the memory limit`,
    );
  }
  if (swap > 0 && memory === 0) {
    throw new InvalidArgumentError(
      "memory_swap_limit_in_bytes needs memory_limit_in_bytes as well",
    );
  }
  if (memory > 0 || swap !== 0) {
    out.memory = {};
    if (memory > 0) out.memory.limit = memory;
    if (swap !== 0) out.memory.swap = swap;
  }

  const shares = int("cpu_shares", r.cpu_shares);
  const quota = int("cpu_quota", r.cpu_quota);
  const period = int("cpu_period", r.cpu_period);
  if (shares < 0 || shares > 262144 || (shares > 0 && shares < 2)) {
    throw new InvalidArgumentError(`cpu_shares ${shares} is outside 2..262144 (0 for unset)`);
  }
  if (period !== 0 && (period < 1000 || period > 1_000_000)) {
    throw new InvalidArgumentError(
      `cpu_period ${period} is outside 1000..1000000 microseconds (0 for unset)`,
    );
  }
  if (quota !== 0 && quota !== -1 && quota < 1000) {
    throw new InvalidArgumentError(
      `cpu_quota ${quota} is below 1000 microseconds; use -1 for unlimited or 0 for unset`,
    );
  }
  const cpus = (r.cpuset_cpus ?? "").trim();
  const mems = (r.cpuset_mems ?? "").trim();
  if (cpus && !CPUSET.test(cpus)) {
    throw new InvalidArgumentError(`cpuset_cpus "${cpus}" is not a CPU list like "0-2,4"`);
  }
  if (mems && !CPUSET.test(mems)) {
    throw new InvalidArgumentError(`cpuset_mems "${mems}" is not a node list like "0-1"`);
  }
  const cpu: NonNullable<OciLinuxResources["cpu"]> = {};
  if (shares > 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period > 0) cpu.period = period;
  if (cpus) cpu.cpus = cpus;
  if (mems) cpu.mems = mems;
  if (Object.keys(cpu).length) out.cpu = cpu;

  const oom = int("oom_score_adj", r.oom_score_adj);
  if (oom < -1000 || oom > 1000) {
    throw new InvalidArgumentError(`oom_score_adj ${oom} is outside -1000..1000`);
  }

  if (r.hugepage_limits?.length) {
    out.hugepageLimits = r.hugepage_limits.map((h) => {
      if (!PAGE_SIZE.test(h.page_size)) {
        throw new InvalidArgumentError(
          `hugepage page_size "${h.page_size}" is not a size like "2MB" or "1GB"`,
        );
      }
      const limit = int(`hugepage limit for ${h.page_size}`, h.limit);
      if (limit < 0) throw new InvalidArgumentError(`hugepage limit ${limit} is negative`);
      return { pageSize: h.page_size, limit };
    });
  }
  if (r.unified && Object.keys(r.unified).length) {
    if (!opts.cgroupV2) {
      throw new InvalidArgumentError(
        "resources.unified needs cgroup v2, and this node runs cgroup v1; remove the unified settings",
      );
    }
    for (const k of Object.keys(r.unified)) {
      if (!/^[a-z]+\.[a-z0-9_.]+$/.test(k) || k.includes("..")) {
        throw new InvalidArgumentError(`unified key "${k}" is not a cgroup v2 file name`);
      }
    }
    out.unified = { ...r.unified };
  }
  return out;
}

/** Merges an update into the resources a spec already has (unset fields keep theirs). */
export function mergeResources(
  current: Record<string, unknown> | undefined,
  update: OciLinuxResources,
): Record<string, unknown> {
  const base = structuredClone(current ?? {}) as Record<string, Record<string, unknown>>;
  for (const [k, v] of Object.entries(update)) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      base[k] = { ...(base[k] ?? {}), ...(v as Record<string, unknown>) };
    } else {
      (base as Record<string, unknown>)[k] = v;
    }
  }
  return base;
}

/** What updating a container needs to know about it. */
export interface ResourceUpdateTarget {
  id: string;
  state: ContainerStateName;
  bundleDir: string;
  runtimeBinary: string;
  runtimeRoot: string;
  runtimeOptions: string[];
}

/**
 * Applies resources to a container: `runc update` while it runs, and config.json either
 * way (a created container gets them when it starts). Exited containers are refused.
 */
export async function applyResources(
  target: ResourceUpdateTarget,
  resources: OciLinuxResources,
): Promise<void> {
  if (target.state === "CONTAINER_EXITED" || target.state === "CONTAINER_UNKNOWN") {
    throw new FailedPreconditionError(
      `container ${target.id} is ${target.state}; resources can only be updated on a created or running container`,
    );
  }
  if (target.state === "CONTAINER_RUNNING") {
    const file = `${target.bundleDir}/resources-update.json`;
    const log = `${target.bundleDir}/runtime-update.log`;
    await Deno.writeTextFile(file, JSON.stringify(resources));
    try {
      const out = await new Deno.Command(target.runtimeBinary, {
        args: [
          "--root",
          target.runtimeRoot,
          "--log",
          log,
          ...target.runtimeOptions,
          "update",
          "--resources",
          file,
          target.id,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        const stderr = new TextDecoder().decode(out.stderr).trim();
        const runtimeLog = await Deno.readTextFile(log).catch(() => "");
        const detail = [stderr, lastErrorLine(runtimeLog)].filter(Boolean).join("; ");
        throw new InternalError(
          `${target.runtimeBinary} update of container ${target.id} failed: ${detail}`,
        );
      }
    } finally {
      await Deno.remove(file).catch(() => {});
      await Deno.remove(log).catch(() => {});
    }
  }
  const specPath = `${target.bundleDir}/config.json`;
  const spec = JSON.parse(await Deno.readTextFile(specPath));
  spec.linux ??= {};
  spec.linux.resources = mergeResources(spec.linux.resources, resources);
  const tmp = `${specPath}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(spec));
  await Deno.rename(tmp, specPath);
}

/** runc logs JSON lines; the last "error" message is the useful one. */
function lastErrorLine(log: string): string {
  const lines = log.trim().split("\n").reverse();
  for (const l of lines) {
    try {
      const j = JSON.parse(l);
      if (j.level === "error" && j.msg) return String(j.msg);
    } catch {
      if (l.trim()) return l.trim();
    }
  }
  return "";
}
