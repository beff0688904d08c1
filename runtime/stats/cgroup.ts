/**
 * cgroup v1 and v2 readers. A cgroup is named by its path relative to the hierarchy root
 * (as in /proc/<pid>/cgroup, or runc's cgroupsPath with the cgroupfs driver); `locate()`
 * turns that into the directories to read, found from this process's mount table, so that
 * hybrid hosts (v1 controllers + an empty v2 hierarchy, like this one) and pure v2 hosts
 * both work. The readers take directories, so v2 is testable on fixture trees.
 */
import type { CgroupSample, CpuSample, MemorySample, Psi, PsiLine, SwapSample } from "./types.ts";
import { hostCgroupMounts, hostCgroupVersion } from "../../linux/cgroup.ts";

// The host's cgroup mounts and version come from the one probe, in linux/cgroup.ts.
export {
  type CgroupMounts,
  hostCgroupMounts,
  hostCgroupVersion,
  parseCgroupMounts,
} from "../../linux/cgroup.ts";

/**
 * Directories holding one cgroup's files, per version. On hybrid hosts the v1 cgroup's twin
 * in the (controller-less) v2 hierarchy still has PSI files: `unified` points there.
 */
export type CgroupDirs =
  | {
    version: 1;
    cpuacct: string | null;
    memory: string | null;
    pids: string | null;
    unified: string | null;
  }
  | { version: 2; dir: string };

/**
 * Expands a systemd-driver cgroup parent (`kubepods-burstable-pod12.slice`) into its path
 * (`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice`), as systemd
 * nests slices by their dash-separated prefixes. Plain paths are returned unchanged.
 */
export function expandSystemdSlice(parent: string): string {
  if (!parent.endsWith(".slice") || parent.includes("/")) return parent;
  if (parent === "-.slice") return "/";
  const stem = parent.slice(0, -".slice".length);
  const parts = stem.split("-");
  let path = "";
  let prefix = "";
  for (const p of parts) {
    prefix = prefix ? `${prefix}-${p}` : p;
    path += `/${prefix}.slice`;
  }
  return path;
}

/**
 * The cgroup path of a runc `cgroupsPath`: a plain path with the cgroupfs driver, or
 * `slice:prefix:name` with the systemd driver (→ `<slice path>/<prefix>-<name>.scope`).
 */
export function cgroupsPathToRelative(cgroupsPath: string): string {
  const parts = cgroupsPath.split(":");
  if (parts.length === 3 && !cgroupsPath.startsWith("/")) {
    const [slice, prefix, name] = parts;
    const base = expandSystemdSlice(slice || "system.slice");
    const leaf = name.endsWith(".slice") ? name : `${prefix ? prefix + "-" : ""}${name}.scope`;
    return `${base === "/" ? "" : base}/${leaf}`;
  }
  return cgroupsPath.startsWith("/") ? cgroupsPath : `/${cgroupsPath}`;
}

/** The directories of the cgroup at `relativePath` (e.g. `/kubepods/pod1/abc`). */
export function locate(relativePath: string, mounts = hostCgroupMounts()): CgroupDirs {
  const rel = relativePath.startsWith("/") ? relativePath : `/${relativePath}`;
  const join = (root: string | undefined | null) =>
    root ? `${root}${rel === "/" ? "" : rel}` : null;
  if (hostCgroupVersion(mounts) === 1) {
    return {
      version: 1,
      cpuacct: join(mounts.v1.get("cpuacct")),
      memory: join(mounts.v1.get("memory")),
      pids: join(mounts.v1.get("pids")),
      unified: join(mounts.v2),
    };
  }
  if (!mounts.v2) throw new Error("no cgroup hierarchy is mounted on this host");
  return { version: 2, dir: join(mounts.v2)! };
}

/** Per-controller cgroup paths of a live process, from `/proc/<pid>/cgroup`. */
export function parseProcCgroup(text: string): { v1: Map<string, string>; v2: string | null } {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2 = m[3];
    else for (const c of m[2].split(",")) v1.set(c, m[3]);
  }
  return { v1, v2 };
}

/** The cgroup directories a live process is in (null once it has exited). */
export async function locateByPid(pid: number, mounts = hostCgroupMounts()): Promise<
  CgroupDirs | null
> {
  let text: string;
  try {
    text = await Deno.readTextFile(`/proc/${pid}/cgroup`);
  } catch {
    return null;
  }
  const own = parseProcCgroup(text);
  if (hostCgroupVersion(mounts) === 1) {
    const dir = (c: string) => {
      const root = mounts.v1.get(c);
      const rel = own.v1.get(c);
      return root && rel !== undefined ? `${root}${rel === "/" ? "" : rel}` : null;
    };
    const unified = mounts.v2 && own.v2 !== null
      ? `${mounts.v2}${own.v2 === "/" ? "" : own.v2}`
      : null;
    return {
      version: 1,
      cpuacct: dir("cpuacct"),
      memory: dir("memory"),
      pids: dir("pids"),
      unified,
    };
  }
  if (!mounts.v2 || own.v2 === null) return null;
  return { version: 2, dir: `${mounts.v2}${own.v2 === "/" ? "" : own.v2}` };
}

// ---------------------------------------------------------------------------------------
// Parsing

/** v1 reports "unlimited" as a huge page-aligned number near 2^63. */
const UNLIMITED_THRESHOLD = 2n ** 62n;

function toLimit(v: bigint | null): number | null {
  if (v === null || v >= UNLIMITED_THRESHOLD) return null;
  return Number(v);
}

/** `key value` lines (memory.stat, cpu.stat) into a map of bigints. */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out.set(k, BigInt(v));
  }
  return out;
}

/** A PSI file (`some avg10=… avg60=… avg300=… total=…` and `full …`). */
export function parsePsi(text: string): Psi | null {
  let some: PsiLine | null = null;
  let full: PsiLine | null = null;
  for (const line of text.split("\n")) {
    const [kind, ...fields] = line.trim().split(/\s+/);
    if (kind !== "some" && kind !== "full") continue;
    const kv = new Map(fields.map((f) => f.split("=") as [string, string]));
    const parsed: PsiLine = {
      avg10: Number(kv.get("avg10") ?? 0),
      avg60: Number(kv.get("avg60") ?? 0),
      avg300: Number(kv.get("avg300") ?? 0),
      totalNs: BigInt(kv.get("total") ?? "0") * 1000n,
    };
    if (kind === "some") some = parsed;
    else full = parsed;
  }
  return some ? { some, full } : null;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotSupported) {
      return null;
    }
    // PSI files exist but refuse reads (EOPNOTSUPP) when PSI is disabled at boot.
    if (err instanceof Error && /not supported|EOPNOTSUPP/i.test(err.message)) return null;
    throw err;
  }
}

async function readInt(path: string): Promise<bigint | null> {
  const t = await readText(path);
  if (t === null) return null;
  const s = t.trim();
  if (s === "max") return 2n ** 63n;
  return /^-?\d+$/.test(s) ? BigInt(s) : null;
}

function n(v: bigint | undefined | null): number {
  return v === undefined || v === null ? 0 : Number(v < 0n ? 0n : v);
}

function memoryFrom(
  usage: number,
  inactiveFile: number,
  rss: number,
  stat: Map<string, bigint>,
  faultKeys: [string, string],
  limit: number | null,
  psi: Psi | null,
): MemorySample {
  const workingSet = Math.max(0, usage - inactiveFile);
  return {
    usageBytes: usage,
    workingSetBytes: workingSet,
    rssBytes: rss,
    pageFaults: n(stat.get(faultKeys[0])),
    majorPageFaults: n(stat.get(faultKeys[1])),
    limitBytes: limit,
    availableBytes: limit === null ? null : Math.max(0, limit - workingSet),
    psi,
  };
}

// ---------------------------------------------------------------------------------------
// v1

async function readV1(dirs: Extract<CgroupDirs, { version: 1 }>): Promise<CgroupSample> {
  const at = Date.now();
  const psi = (kind: string) => dirs.unified ? readPsi(`${dirs.unified}/${kind}.pressure`) : null;
  let cpu: CpuSample | null = null;
  if (dirs.cpuacct) {
    const usage = await readInt(`${dirs.cpuacct}/cpuacct.usage`);
    if (usage !== null) cpu = { usageNs: usage, psi: await psi("cpu") };
  }
  let memory: MemorySample | null = null;
  let swap: SwapSample | null = null;
  if (dirs.memory) {
    const usage = await readInt(`${dirs.memory}/memory.usage_in_bytes`);
    const statText = await readText(`${dirs.memory}/memory.stat`);
    if (usage !== null && statText !== null) {
      const stat = parseFlatKeyed(statText);
      // `total_*` include descendants; a leaf container has none, a pod cgroup does.
      const limit = toLimit(await readInt(`${dirs.memory}/memory.limit_in_bytes`));
      memory = memoryFrom(
        n(usage),
        n(stat.get("total_inactive_file")),
        n(stat.get("total_rss")),
        stat,
        ["total_pgfault", "total_pgmajfault"],
        limit,
        await psi("memory"),
      );
      const memsw = await readInt(`${dirs.memory}/memory.memsw.usage_in_bytes`);
      if (memsw !== null) {
        // memsw counts memory + swap; its limit likewise.
        const swUsage = Math.max(0, n(memsw) - n(usage));
        const memswLimit = toLimit(await readInt(`${dirs.memory}/memory.memsw.limit_in_bytes`));
        const swLimit = memswLimit === null || limit === null ? null : memswLimit - limit;
        swap = {
          usageBytes: swUsage,
          limitBytes: swLimit,
          availableBytes: swLimit === null ? null : Math.max(0, swLimit - swUsage),
        };
      } else if (stat.has("total_swap")) {
        swap = { usageBytes: n(stat.get("total_swap")), limitBytes: null, availableBytes: null };
      }
    }
  }
  let pids: number | null = null;
  if (dirs.pids) {
    const p = await readInt(`${dirs.pids}/pids.current`);
    if (p !== null) pids = n(p);
  }
  return { at, cpu, memory, swap, pids, ioPsi: await psi("io") };
}

// ---------------------------------------------------------------------------------------
// v2

async function readPsi(path: string): Promise<Psi | null> {
  const t = await readText(path);
  return t === null ? null : parsePsi(t);
}

async function readV2(dir: string): Promise<CgroupSample> {
  const at = Date.now();
  let cpu: CpuSample | null = null;
  const cpuStat = await readText(`${dir}/cpu.stat`);
  if (cpuStat !== null) {
    const stat = parseFlatKeyed(cpuStat);
    cpu = {
      usageNs: (stat.get("usage_usec") ?? 0n) * 1000n,
      psi: await readPsi(`${dir}/cpu.pressure`),
    };
  }
  let memory: MemorySample | null = null;
  const usage = await readInt(`${dir}/memory.current`);
  const statText = await readText(`${dir}/memory.stat`);
  if (usage !== null && statText !== null) {
    const stat = parseFlatKeyed(statText);
    memory = memoryFrom(
      n(usage),
      n(stat.get("inactive_file")),
      n(stat.get("anon")),
      stat,
      ["pgfault", "pgmajfault"],
      toLimit(await readInt(`${dir}/memory.max`)),
      await readPsi(`${dir}/memory.pressure`),
    );
  }
  let swap: SwapSample | null = null;
  const swUsage = await readInt(`${dir}/memory.swap.current`);
  if (swUsage !== null) {
    const limit = toLimit(await readInt(`${dir}/memory.swap.max`));
    swap = {
      usageBytes: n(swUsage),
      limitBytes: limit,
      availableBytes: limit === null ? null : Math.max(0, limit - n(swUsage)),
    };
  }
  const p = await readInt(`${dir}/pids.current`);
  return {
    at,
    cpu,
    memory,
    swap,
    pids: p === null ? null : n(p),
    ioPsi: await readPsi(`${dir}/io.pressure`),
  };
}

/** Reads one cgroup's usage. Controllers whose files are missing come back null. */
export async function readCgroup(dirs: CgroupDirs): Promise<CgroupSample> {
  return dirs.version === 1 ? await readV1(dirs) : await readV2(dirs.dir);
}

/** Whether the cgroup still exists (its memory or unified directory is there). */
export async function cgroupExists(dirs: CgroupDirs): Promise<boolean> {
  const probe = dirs.version === 1 ? (dirs.memory ?? dirs.cpuacct) : dirs.dir;
  if (!probe) return false;
  try {
    return (await Deno.stat(probe)).isDirectory;
  } catch {
    return false;
  }
}
