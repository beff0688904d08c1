/**
 * Container resources in the spec: cgroup limits, the cgroup path, oom_score_adj. At
 * creation CRI resources go into the spec as given (kubelet's values); for
 * UpdateContainerResources they are validated first (bad values are INVALID_ARGUMENT, named
 * and explained) and turned into the OCI `LinuxResources` that `runc update` takes.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { HugepageLimit, LinuxContainerResources } from "../model.ts";
import type { OciLinuxResources, SpecOption } from "./types.ts";

const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const PAGE_SIZE = /^\d+(KB|MB|GB|TB|PB)$/;
/** runc refuses memory limits below this (the kernel needs room for the task itself). */
export const MIN_MEMORY_LIMIT = 6 * 1024 * 1024;

/** The cpu block of the values set (zero is unset; a quota of -1, unlimited, is kept). */
function cpuResources(
  shares: number,
  quota: number,
  period: number,
  cpus: string,
  mems: string,
): OciLinuxResources["cpu"] {
  const cpu: NonNullable<OciLinuxResources["cpu"]> = {};
  if (shares > 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period > 0) cpu.period = period;
  if (cpus) cpu.cpus = cpus;
  if (mems) cpu.mems = mems;
  return Object.keys(cpu).length ? cpu : undefined;
}

/** A copy of the cgroup v2 settings, if any; they cannot be honoured on cgroup v1. */
function unifiedResources(
  unified: Record<string, string> | undefined,
  cgroupV2: boolean,
): Record<string, string> | undefined {
  if (!unified || !Object.keys(unified).length) return undefined;
  if (!cgroupV2) {
    throw new InvalidArgumentError(
      "resources.unified needs cgroup v2, and this node runs cgroup v1; remove the unified settings",
    );
  }
  return { ...unified };
}

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
  const memory = memoryUpdate(r);
  if (memory) out.memory = memory;
  const cpu = cpuUpdate(r);
  if (cpu) out.cpu = cpu;
  const oom = int("oom_score_adj", r.oom_score_adj);
  if (oom < -1000 || oom > 1000) {
    throw new InvalidArgumentError(`oom_score_adj ${oom} is outside -1000..1000`);
  }
  if (r.hugepage_limits?.length) out.hugepageLimits = r.hugepage_limits.map(hugepageUpdate);
  const unified = unifiedResources(r.unified, opts.cgroupV2);
  if (unified) {
    for (const k of Object.keys(unified)) {
      if (!/^[a-z]+\.[a-z0-9_.]+$/.test(k) || k.includes("..")) {
        throw new InvalidArgumentError(`unified key "${k}" is not a cgroup v2 file name`);
      }
    }
    out.unified = unified;
  }
  return out;
}

function memoryUpdate(r: LinuxContainerResources): OciLinuxResources["memory"] {
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
  if (memory === 0 && swap === 0) return undefined;
  const out: NonNullable<OciLinuxResources["memory"]> = {};
  if (memory > 0) out.limit = memory;
  if (swap !== 0) out.swap = swap;
  return out;
}

function cpuUpdate(r: LinuxContainerResources): OciLinuxResources["cpu"] {
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
  return cpuResources(shares, quota, period, cpus, mems);
}

function hugepageUpdate(h: HugepageLimit): { pageSize: string; limit: number } {
  if (!PAGE_SIZE.test(h.page_size)) {
    throw new InvalidArgumentError(
      `hugepage page_size "${h.page_size}" is not a size like "2MB" or "1GB"`,
    );
  }
  const limit = int(`hugepage limit for ${h.page_size}`, h.limit);
  if (limit < 0) throw new InvalidArgumentError(`hugepage limit ${limit} is negative`);
  return { pageSize: h.page_size, limit };
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

/**
 * The CRI resources of a new container as kubelet sent them (zero is unset), after the
 * device rules already in the spec.
 */
export const withResources: SpecOption = (spec, ctx) => {
  const r = ctx.config.linux?.resources;
  if (!r) return;
  // The same checks as an update: a value runc or the kernel would refuse fails here as
  // INVALID_ARGUMENT, not at StartContainer as INTERNAL.
  toOciResources(r, { cgroupV2: ctx.cgroupV2 });
  const out = spec.linux.resources;
  const n = (s: string | undefined) => Number(s ?? "0");
  const mem: NonNullable<OciLinuxResources["memory"]> = {};
  if (n(r.memory_limit_in_bytes) > 0) mem.limit = n(r.memory_limit_in_bytes);
  if (n(r.memory_swap_limit_in_bytes) > 0) mem.swap = n(r.memory_swap_limit_in_bytes);
  if (Object.keys(mem).length) out.memory = mem;
  const cpu = cpuResources(
    n(r.cpu_shares),
    n(r.cpu_quota),
    n(r.cpu_period),
    r.cpuset_cpus,
    r.cpuset_mems,
  );
  if (cpu) out.cpu = cpu;
  // kubelet sends a limit for every huge page size the node has; where the hugetlb
  // controller is not available runc cannot set them at all, so they are skipped, as CRI-O
  // does (the container can then use no more huge pages than the node has anyway).
  if (r.hugepage_limits?.length && ctx.hugetlbAvailable !== false) {
    out.hugepageLimits = r.hugepage_limits.map((h) => ({
      pageSize: h.page_size,
      limit: n(h.limit),
    }));
  }
  const unified = unifiedResources(r.unified, ctx.cgroupV2);
  if (unified) out.unified = unified;
};

/** The container's cgroup under the pod's, in the form the cgroup driver wants. */
export const withCgroupsPath: SpecOption = (spec, ctx) => {
  const parent = ctx.sandbox.cgroupParent;
  if (ctx.cgroupDriver === "systemd") {
    // runc's systemd form: "slice:prefix:name".
    const slice = parent ? parent.split("/").filter(Boolean).pop()! : "system.slice";
    spec.linux.cgroupsPath = `${slice}:skiff:${ctx.id}`;
    return;
  }
  const base = parent ? (parent.startsWith("/") ? parent : `/${parent}`) : "/skiff";
  spec.linux.cgroupsPath = `${base.replace(/\/$/, "")}/skiff-${ctx.id}`;
};

/** The oom_score_adj to give: the request, raised to the floor when lowering is refused. */
export function clampOomScoreAdj(requested: number, floor: number | null): number {
  return floor !== null && requested < floor ? floor : requested;
}

export const withOomScoreAdj: SpecOption = (spec, ctx) => {
  const requested = Number(ctx.config.linux?.resources?.oom_score_adj ?? "0");
  spec.process.oomScoreAdj = clampOomScoreAdj(requested, ctx.oomScoreAdjFloor);
};
