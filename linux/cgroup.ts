/**
 * The host's cgroup hierarchies, read from this process's mount table: which controllers
 * are mounted where, and so which cgroup version containers run under. This is the one
 * cgroup-version probe of Skiff; everything that needs the answer asks here.
 */

export interface CgroupMounts {
  /** v1 controller name → mount point (a controller mounted with others appears once each). */
  v1: Map<string, string>;
  /** The cgroup2 mount point, if any. */
  v2: string | null;
}

/** Reads the cgroup mounts from a mountinfo text (`/proc/self/mountinfo`). */
export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const v1 = new Map<string, string>();
  let v2: string | null = null;
  for (const line of mountinfo.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(" ");
    const post = line.slice(sep + 3).split(" ");
    const mountPoint = pre[4]?.replace(/\\040/g, " ");
    if (!mountPoint) continue;
    if (post[0] === "cgroup2") {
      v2 ??= mountPoint;
    } else if (post[0] === "cgroup") {
      for (const opt of (post[2] ?? "").split(",")) {
        if (!v1.has(opt)) v1.set(opt, mountPoint);
      }
    }
  }
  return { v1, v2 };
}

let mountsCache: CgroupMounts | null = null;

/** This host's cgroup mounts (read once: they do not change under a running Skiff). */
export function hostCgroupMounts(): CgroupMounts {
  mountsCache ??= parseCgroupMounts(Deno.readTextFileSync("/proc/self/mountinfo"));
  return mountsCache;
}

/**
 * Which version the host runs containers under: v1 as soon as the memory controller is
 * mounted as v1 (hybrid hosts keep an empty v2 tree for systemd), else v2.
 */
export function hostCgroupVersion(mounts: CgroupMounts = hostCgroupMounts()): 1 | 2 {
  return mounts.v1.has("memory") ? 1 : 2;
}

/** Whether the hugetlb controller is available to containers' cgroups. */
export function hasHugetlbController(mounts: CgroupMounts = hostCgroupMounts()): boolean {
  if (hostCgroupVersion(mounts) === 1) return mounts.v1.has("hugetlb");
  if (!mounts.v2) return false;
  try {
    return Deno.readTextFileSync(`${mounts.v2}/cgroup.controllers`).split(/\s+/)
      .includes("hugetlb");
  } catch {
    return false;
  }
}
