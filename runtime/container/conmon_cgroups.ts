/**
 * conmon's own cgroup under the pod's (CRI-O's conmon_cgroup = "pod"): its memory is the
 * pod's, and stopping Skiff's service cgroup cannot take the monitors with it. cgroupfs
 * driver only; with systemd, conmon stays where it is.
 */
import { errorMessage, InternalError } from "../../core/errors.ts";
import { hostCgroupVersion } from "../../linux/cgroup.ts";
import type { SandboxForContainer } from "../contracts.ts";
import type { ContainerRecord } from "./record.ts";
import type { ContainerContext } from "./service.ts";

/**
 * conmon's cgroup directories in every hierarchy that can take a process without further
 * set-up (cpuset cannot: a new v1 cpuset cgroup has no CPUs until given some).
 */
export function conmonCgroupDirs(parent: string, id: string): string[] {
  const base = parent ? (parent.startsWith("/") ? parent : `/${parent}`) : "/skiff";
  const leaf = `${base.replace(/\/$/, "")}/skiff-conmon-${id}`;
  return hierarchies().map((h) => `${h}${leaf}`);
}

let hierarchyRoots: string[] | undefined;

/** The hierarchies' mount points, read once: they do not change while Skiff runs. */
function hierarchies(): string[] {
  if (hierarchyRoots) return hierarchyRoots;
  if (hostCgroupVersion() === 2) return hierarchyRoots = ["/sys/fs/cgroup"];
  const seen = new Set<string>();
  try {
    for (const e of Deno.readDirSync("/sys/fs/cgroup")) {
      if (e.name.includes("cpuset")) continue;
      try {
        const real = Deno.realPathSync(`/sys/fs/cgroup/${e.name}`);
        Deno.statSync(`${real}/cgroup.procs`);
        seen.add(real);
      } catch {
        continue;
      }
    }
  } catch { /* no cgroupfs */ }
  return hierarchyRoots = [...seen];
}

/**
 * Moves conmon (`pid`) out of Skiff's own cgroup into one of its own under the pod's.
 * Best effort: a container still starts if a hierarchy refuses. Asynchronous, hierarchies
 * at once: the first migration after a quiet spell waits out an RCU grace period (4-11 ms
 * measured here, whichever hierarchy comes first; the others then take ~0.05 ms), which on
 * the blocking pool overlaps conmon's launcher starting instead of holding the event loop.
 */
export async function placeConmon(
  ctx: ContainerContext,
  rec: ContainerRecord,
  sandbox: SandboxForContainer,
  pid: number,
): Promise<void> {
  if (ctx.config.cgroup_driver !== "cgroupfs") return;
  rec.conmonCgroupParent = sandbox.cgroupParent;
  await Promise.all(
    conmonCgroupDirs(sandbox.cgroupParent, rec.id).map(async (dir) => {
      try {
        await Deno.mkdir(dir, { recursive: true });
        await Deno.writeTextFile(`${dir}/cgroup.procs`, `${pid}\n`);
      } catch (err) {
        ctx.log.debug("conmon not moved into a pod cgroup", { dir, err: errorMessage(err) });
      }
    }),
  );
}

/**
 * Removes conmon's cgroups; throws while one still holds a process (conmon leaves soon
 * after its container: the caller tries again later).
 */
export async function removeConmonCgroups(parent: string | undefined, id: string): Promise<void> {
  if (parent === undefined) return;
  // One per hierarchy (nine on this cgroup v1 host), independent of each other.
  const busy: string[] = [];
  await Promise.all(
    conmonCgroupDirs(parent, id).map(async (dir) => {
      try {
        await Deno.remove(dir);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) busy.push(dir);
      }
    }),
  );
  if (busy.length > 0) throw new InternalError(`conmon's cgroups still in use: ${busy.join(", ")}`);
}
