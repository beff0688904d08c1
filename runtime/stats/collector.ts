/**
 * Collects the usage of containers and pods from their cgroups, network namespaces and
 * writable layers, given the live objects from the container and sandbox services
 * (`StatsTargets`). Keeps the previous CPU sample of each object for `usage_nano_cores`,
 * and a short cache of writable-layer walks (a big layer takes a while to walk and kubelet
 * asks every ~10 s from several loops).
 */
import type { ContainerForStats, SandboxForStats, StatsTargets } from "../contracts.ts";
import {
  type CgroupDirs,
  cgroupExists,
  cgroupsPathToRelative,
  locate,
  locateByPid,
} from "./cgroup.ts";
import { readCgroup } from "./cgroup.ts";
import { directoryUsage } from "./fs_usage.ts";
import { netDevOfNetns, netDevOfPid } from "./network.ts";
import { CpuRateTracker } from "./rate.ts";
import type {
  CgroupSample,
  FilesystemSample,
  FilesystemUsageSample,
  InterfaceCounters,
} from "./types.ts";

export interface ContainerUsage {
  container: ContainerForStats;
  /** Null when the container has no cgroup (not running, or already removed). */
  cgroup: CgroupSample | null;
  /** CPU rate since the previous sample of this container; null on the first one. */
  cpuNanoCores: bigint | null;
  writableLayer: FilesystemSample | null;
  /** Mount point of the filesystem holding the writable layer (CRI `fs_id`). */
  writableLayerMount: string;
}

export interface PodUsage {
  sandbox: SandboxForStats;
  cgroup: CgroupSample | null;
  cpuNanoCores: bigint | null;
  /** Interfaces of the pod's network namespace; null for host-network or stopped pods. */
  network: InterfaceCounters[] | null;
  containers: ContainerUsage[];
}

export interface CollectorOptions {
  /** Samples closer together than this reuse the previous rate (noisy otherwise). */
  minRateWindowMs?: number;
  /** How long a writable-layer walk is reused. */
  fsCacheMs?: number;
  /** Mount point reported as the writable layers' filesystem. */
  writableLayerMount?: string;
}

interface FsCacheEntry {
  at: number;
  value: Promise<FilesystemSample>;
}

export class StatsCollector {
  private readonly containerRates: CpuRateTracker;
  private readonly podRates: CpuRateTracker;
  private readonly fsCache = new Map<string, FsCacheEntry>();
  private readonly fsCacheMs: number;

  constructor(
    private readonly targets: StatsTargets,
    private readonly opts: CollectorOptions = {},
  ) {
    this.containerRates = new CpuRateTracker(opts.minRateWindowMs ?? 1000);
    this.podRates = new CpuRateTracker(opts.minRateWindowMs ?? 1000);
    this.fsCacheMs = opts.fsCacheMs ?? 5000;
  }

  async containerUsage(id: string): Promise<ContainerUsage | undefined> {
    const c = this.targets.getContainerForStats(id);
    return c ? await this.collectContainer(c) : undefined;
  }

  async listContainerUsage(filter: (c: ContainerForStats) => boolean = () => true): Promise<
    ContainerUsage[]
  > {
    const all = this.targets.listContainersForStats();
    this.forgetGone(all.map((c) => c.id), this.containerRates);
    // As containerd does: only containers with a live task have stats to list.
    const live = all.filter((c) => c.state === "CONTAINER_RUNNING" && filter(c));
    return await Promise.all(live.map((c) => this.collectContainer(c)));
  }

  async podUsage(id: string): Promise<PodUsage | undefined> {
    const s = this.targets.getSandboxForStats(id);
    return s ? await this.collectPod(s) : undefined;
  }

  async listPodUsage(filter: (s: SandboxForStats) => boolean = () => true): Promise<PodUsage[]> {
    const all = this.targets.listSandboxesForStats();
    this.forgetGone(all.map((s) => s.id), this.podRates);
    const ready = all.filter((s) => s.state === "SANDBOX_READY" && filter(s));
    return await Promise.all(ready.map((s) => this.collectPod(s)));
  }

  /**
   * Every container's writable layer together: CRI ImageFsInfo's `container_filesystems`.
   * kubelet tells a split image/container disk (KEP-4191) from a shared one by comparing
   * the two mount points, so when the layers sit on the image filesystem's device its mount
   * point is reported for both (as CRI-O reports its graph root twice).
   */
  async containerFilesystem(imageFsMount: string): Promise<FilesystemUsageSample> {
    const own = this.opts.writableLayerMount || imageFsMount;
    const devices = await Promise.all(
      [own, imageFsMount].map((p) => Deno.stat(p).then((i) => i.dev, () => null)),
    );
    const shared = devices[0] === null || devices[0] === devices[1];
    const layers = await Promise.all(
      this.targets.listContainersForStats().filter((c) => c.writableLayerDir).map((c) =>
        this.layerUsage(c.id, c.writableLayerDir!).catch(() => null)
      ),
    );
    let usedBytes = 0;
    let inodesUsed = 0;
    for (const l of layers) {
      usedBytes += l?.usedBytes ?? 0;
      inodesUsed += l?.inodesUsed ?? 0;
    }
    return { mountpoint: shared ? imageFsMount : own, at: Date.now(), usedBytes, inodesUsed };
  }

  /** Drops the kept samples (and, for containers, layer walks) of objects that are gone. */
  private forgetGone(ids: string[], rates: CpuRateTracker): void {
    const live = new Set(ids);
    rates.retain(live);
    if (rates !== this.containerRates) return;
    for (const k of this.fsCache.keys()) if (!live.has(k)) this.fsCache.delete(k);
  }

  private async containerCgroup(c: ContainerForStats): Promise<CgroupDirs | null> {
    // The live process's own cgroup is authoritative (systemd may place it differently);
    // the configured path serves a container between create and start.
    if (c.pid > 0) {
      const byPid = await locateByPid(c.pid);
      if (byPid) return byPid;
    }
    if (!c.cgroupsPath) return null;
    const dirs = locate(cgroupsPathToRelative(c.cgroupsPath));
    return (await cgroupExists(dirs)) ? dirs : null;
  }

  private async collectContainer(c: ContainerForStats): Promise<ContainerUsage> {
    const dirs = c.state === "CONTAINER_EXITED" ? null : await this.containerCgroup(c);
    const cgroup = dirs ? await readCgroup(dirs) : null;
    let cpuNanoCores: bigint | null = null;
    if (cgroup?.cpu) {
      cpuNanoCores = this.containerRates.rate(`c:${c.id}`, cgroup.cpu.usageNs, cgroup.at);
    }
    return {
      container: c,
      cgroup,
      cpuNanoCores,
      writableLayer: c.writableLayerDir ? await this.layerUsage(c.id, c.writableLayerDir) : null,
      writableLayerMount: this.opts.writableLayerMount ?? "",
    };
  }

  private layerUsage(id: string, dir: string): Promise<FilesystemSample> {
    const now = Date.now();
    const hit = this.fsCache.get(id);
    if (hit && now - hit.at < this.fsCacheMs) return hit.value;
    const value = directoryUsage(dir);
    this.fsCache.set(id, { at: now, value });
    value.catch(() => this.fsCache.delete(id));
    return value;
  }

  private async collectPod(s: SandboxForStats): Promise<PodUsage> {
    const containers = await this.listContainerUsage((c) => c.sandboxId === s.id);
    let cgroup: CgroupSample | null = null;
    if (s.cgroupParent) {
      const dirs = locate(cgroupsPathToRelative(s.cgroupParent));
      if (await cgroupExists(dirs)) cgroup = await readCgroup(dirs);
    }
    // No pod cgroup of its own (no kubelet-made parent): the pod is the sum of its
    // containers, which is what the pod cgroup would account.
    cgroup ??= sumSamples(containers.map((c) => c.cgroup).filter((x) => x !== null));
    let cpuNanoCores: bigint | null = null;
    if (cgroup?.cpu) {
      cpuNanoCores = this.podRates.rate(`p:${s.id}`, cgroup.cpu.usageNs, cgroup.at);
    }
    let network: InterfaceCounters[] | null = null;
    if (!s.hostNetwork && s.state === "SANDBOX_READY") {
      const withPid = containers.find((c) => c.container.pid > 0);
      if (withPid) network = await netDevOfPid(withPid.container.pid);
      if (!network && s.netnsPath) network = await netDevOfNetns(s.netnsPath).catch(() => null);
    }
    return { sandbox: s, cgroup, cpuNanoCores, network, containers };
  }
}

/** Adds container samples into a pod-level one (null when there are none). */
export function sumSamples(samples: CgroupSample[]): CgroupSample | null {
  if (samples.length === 0) return null;
  const add = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? null : a + b;
  let out: CgroupSample = structuredClone(samples[0]);
  for (const s of samples.slice(1)) {
    out = {
      at: Math.max(out.at, s.at),
      cpu: out.cpu && s.cpu ? { usageNs: out.cpu.usageNs + s.cpu.usageNs, psi: null } : null,
      memory: out.memory && s.memory
        ? {
          usageBytes: out.memory.usageBytes + s.memory.usageBytes,
          workingSetBytes: out.memory.workingSetBytes + s.memory.workingSetBytes,
          rssBytes: out.memory.rssBytes + s.memory.rssBytes,
          pageFaults: out.memory.pageFaults + s.memory.pageFaults,
          majorPageFaults: out.memory.majorPageFaults + s.memory.majorPageFaults,
          limitBytes: add(out.memory.limitBytes, s.memory.limitBytes),
          availableBytes: add(out.memory.availableBytes, s.memory.availableBytes),
          psi: null,
        }
        : null,
      swap: out.swap && s.swap
        ? {
          usageBytes: out.swap.usageBytes + s.swap.usageBytes,
          limitBytes: add(out.swap.limitBytes, s.swap.limitBytes),
          availableBytes: add(out.swap.availableBytes, s.swap.availableBytes),
        }
        : null,
      pids: add(out.pids, s.pids),
      ioPsi: null,
    };
  }
  return out;
}
