/**
 * conmon's own cgroup under the pod's (CRI-O's conmon_cgroup = "pod"): its memory is the
 * pod's, and stopping Skiff's service cgroup cannot take the monitors with it. cgroupfs
 * driver only; with systemd, conmon stays where it is.
 */
import { errorMessage } from "../../core/errors.ts";
import { hostCgroupVersion } from "../../linux/cgroup.ts";
import type { SandboxForContainer } from "../contracts.ts";
import { sleep } from "./exits.ts";
import type { ContainerRecord } from "./record.ts";
import type { ContainerContext } from "./service.ts";

/**
 * conmon's cgroup directories in every hierarchy that can take a process without further
 * set-up (cpuset cannot: a new v1 cpuset cgroup has no CPUs until given some).
 */
export function conmonCgroupDirs(parent: string, id: string): string[] {
  const base = parent ? (parent.startsWith("/") ? parent : `/${parent}`) : "/skiff";
  const leaf = `${base.replace(/\/$/, "")}/skiff-conmon-${id}`;
  if (hostCgroupVersion() === 2) return [`/sys/fs/cgroup${leaf}`];
  const seen = new Set<string>();
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync("/sys/fs/cgroup")) {
      if (e.name.includes("cpuset")) continue;
      let real: string;
      try {
        real = Deno.realPathSync(`/sys/fs/cgroup/${e.name}`);
        Deno.statSync(`${real}/cgroup.procs`);
      } catch {
        continue;
      }
      if (seen.has(real)) continue;
      seen.add(real);
      out.push(`${real}${leaf}`);
    }
  } catch { /* no cgroupfs */ }
  return out;
}

/**
 * Moves conmon (`pid`) out of Skiff's own cgroup into one of its own under the pod's.
 * Best effort: a container still starts if a hierarchy refuses.
 */
export function placeConmon(
  ctx: ContainerContext,
  rec: ContainerRecord,
  sandbox: SandboxForContainer,
  pid: number,
): void {
  if (ctx.config.cgroup_driver !== "cgroupfs") return;
  rec.conmonCgroupParent = sandbox.cgroupParent;
  // Synchronous calls: a handful of tiny cgroupfs writes, cheaper than thread-pool hops.
  for (const dir of conmonCgroupDirs(sandbox.cgroupParent, rec.id)) {
    try {
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeTextFileSync(`${dir}/cgroup.procs`, `${pid}\n`);
    } catch (err) {
      ctx.log.debug("conmon not moved into a pod cgroup", { dir, err: errorMessage(err) });
    }
  }
}

/** Removes conmon's cgroups once it has gone (it leaves soon after its container). */
export async function removeConmonCgroups(rec: ContainerRecord): Promise<void> {
  if (rec.conmonCgroupParent === undefined) return;
  // One per hierarchy (a dozen on cgroup v1), independent of each other: removed together.
  await Promise.all(
    conmonCgroupDirs(rec.conmonCgroupParent, rec.id).map(async (dir) => {
      for (let i = 0; i < 20; i++) {
        try {
          await Deno.remove(dir);
          break;
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) break;
          await sleep(25); // still busy: conmon is finishing
        }
      }
    }),
  );
}
