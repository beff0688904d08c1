/**
 * `StatsTargets` over the container and sandbox services: which objects exist, and where
 * their cgroups, namespaces and writable layers are. Read-only views of their records.
 */
import type { ContainerForStats, SandboxForStats, StatsTargets } from "../contracts.ts";
import type { ContainerRecord, ContainerService } from "../container/mod.ts";
import { type SandboxRecord, type SandboxService, stateOf } from "../sandbox/mod.ts";

/** The runc cgroupsPath written in a container's spec (cached: it never changes). */
class CgroupsPathCache {
  private readonly byId = new Map<string, string>();
  get(rec: ContainerRecord): string {
    let v = this.byId.get(rec.id);
    if (v === undefined) {
      try {
        const spec = JSON.parse(Deno.readTextFileSync(`${rec.bundleDir}/config.json`));
        v = typeof spec?.linux?.cgroupsPath === "string" ? spec.linux.cgroupsPath as string : "";
      } catch {
        v = "";
      }
      if (v) this.byId.set(rec.id, v);
    }
    return v;
  }
  retain(ids: Set<string>): void {
    for (const k of this.byId.keys()) if (!ids.has(k)) this.byId.delete(k);
  }
}

export function containerForStats(rec: ContainerRecord, cgroupsPath: string): ContainerForStats {
  return {
    id: rec.id,
    sandboxId: rec.sandboxId,
    name: rec.name,
    attempt: rec.attempt,
    labels: rec.labels,
    annotations: rec.annotations,
    image: rec.image?.image || rec.imageRef,
    state: rec.state,
    pid: rec.state === "CONTAINER_RUNNING" ? rec.pid : 0,
    cgroupsPath,
    writableLayerDir: rec.upperDir || null,
    startedAt: rec.startedAt,
  };
}

export function sandboxForStats(r: SandboxRecord): SandboxForStats {
  return {
    id: r.id,
    name: r.name,
    uid: r.uid,
    namespace: r.namespace,
    attempt: r.attempt,
    labels: r.config.labels ?? {},
    annotations: r.config.annotations ?? {},
    state: stateOf(r),
    cgroupParent: r.cgroupParent,
    netnsPath: r.ns.net,
    hostNetwork: r.namespaceModes.network === "NODE",
  };
}

export class ServiceStatsTargets implements StatsTargets {
  private readonly paths = new CgroupsPathCache();
  constructor(
    private readonly containers: () => ContainerService | null,
    private readonly sandboxes: SandboxService,
  ) {}

  listContainersForStats(): ContainerForStats[] {
    const recs = this.containers()?.list() ?? [];
    this.paths.retain(new Set(recs.map((r) => r.id)));
    return recs.map((r) => containerForStats(r, this.paths.get(r)));
  }

  getContainerForStats(id: string): ContainerForStats | undefined {
    const svc = this.containers();
    if (!svc) return undefined;
    try {
      const rec = svc.get(id);
      return containerForStats(rec, this.paths.get(rec));
    } catch {
      return undefined;
    }
  }

  listSandboxesForStats(): SandboxForStats[] {
    return this.sandboxes.list().map(sandboxForStats);
  }

  getSandboxForStats(id: string): SandboxForStats | undefined {
    const r = this.sandboxes.find(id);
    return r && r.phase !== "creating" ? sandboxForStats(r) : undefined;
  }
}
