/**
 * The usage the stats collector read (runtime/stats), as CRI's ContainerStats and
 * PodSandboxStats messages.
 */
import type { ContainerUsage, PodUsage } from "../../runtime/stats/collector.ts";
import type {
  CgroupSample,
  FilesystemUsageSample,
  Psi,
  PsiLine,
} from "../../runtime/stats/types.ts";
import { defaultInterface, interfacesDefaultFirst } from "../../runtime/stats/network.ts";
import type {
  ContainerStats,
  ImageFsInfoResponse,
  PodSandboxStats,
  PsiData,
  PsiStats,
} from "../types.ts";
import type { DeepPartial } from "../handler.ts";
import { nanos, u64 } from "./values.ts";
import { filesystemUsage } from "./image.ts";

function psiData(l: PsiLine): DeepPartial<PsiData> {
  return { Total: String(l.totalNs), Avg10: l.avg10, Avg60: l.avg60, Avg300: l.avg300 };
}

function psiStats(p: Psi | null): DeepPartial<PsiStats> | null {
  return p ? { Some: psiData(p.some), Full: p.full ? psiData(p.full) : null } : null;
}

/** The cpu/memory/swap/io parts shared by container and pod stats. */
function usageParts(cg: CgroupSample | null, nanoCores: bigint | null) {
  if (!cg) return {};
  const ts = nanos(cg.at);
  const m = cg.memory;
  return {
    cpu: cg.cpu
      ? {
        timestamp: ts,
        usage_core_nano_seconds: u64(cg.cpu.usageNs),
        usage_nano_cores: nanoCores === null ? null : u64(nanoCores),
        psi: psiStats(cg.cpu.psi),
      }
      : null,
    memory: m
      ? {
        timestamp: ts,
        working_set_bytes: u64(m.workingSetBytes),
        available_bytes: m.availableBytes === null ? null : u64(m.availableBytes),
        usage_bytes: u64(m.usageBytes),
        rss_bytes: u64(m.rssBytes),
        page_faults: u64(m.pageFaults),
        major_page_faults: u64(m.majorPageFaults),
        psi: psiStats(m.psi),
      }
      : null,
    swap: cg.swap
      ? {
        timestamp: ts,
        swap_usage_bytes: u64(cg.swap.usageBytes),
        swap_available_bytes: cg.swap.availableBytes === null ? null : u64(cg.swap.availableBytes),
      }
      : null,
    io: cg.ioPsi ? { timestamp: ts, psi: psiStats(cg.ioPsi) } : null,
  };
}

export function containerStats(u: ContainerUsage): DeepPartial<ContainerStats> {
  const c = u.container;
  const { cpu, memory, swap, io } = usageParts(u.cgroup, u.cpuNanoCores);
  return {
    attributes: {
      id: c.id,
      metadata: { name: c.name, attempt: c.attempt },
      labels: c.labels,
      annotations: c.annotations,
    },
    cpu,
    memory,
    swap,
    io,
    writable_layer: u.writableLayer
      ? {
        timestamp: nanos(u.writableLayer.at),
        fs_id: { mountpoint: u.writableLayerMount },
        used_bytes: u64(u.writableLayer.usedBytes),
        inodes_used: u64(u.writableLayer.inodesUsed),
      }
      : null,
  };
}

export function podSandboxStats(p: PodUsage): DeepPartial<PodSandboxStats> {
  const s = p.sandbox;
  const { cpu, memory, io } = usageParts(p.cgroup, p.cpuNanoCores);
  const ts = nanos(p.cgroup?.at ?? Date.now());
  // Every interface of the pod's namespace, eth0 (what CNI names the pod side) first and
  // also the default: kubelet's summary lists them all, as cAdvisor's does.
  const ifaces = interfacesDefaultFirst(p.network ?? []).map((i) => ({
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  }));
  const def = p.network && defaultInterface(p.network) ? ifaces[0] : null;
  return {
    attributes: {
      id: s.id,
      metadata: { name: s.name, uid: s.uid, namespace: s.namespace, attempt: s.attempt },
      labels: s.labels,
      annotations: s.annotations,
    },
    linux: {
      cpu,
      memory,
      io,
      // Network only with a default interface: kubelet (1.32 and later) dereferences it
      // whenever the message is there, and a pod with no eth0 yet (or any more) crashed it.
      network: def
        ? {
          timestamp: ts,
          default_interface: def,
          interfaces: ifaces,
        }
        : null,
      process: p.cgroup?.pids !== null && p.cgroup?.pids !== undefined
        ? { timestamp: ts, process_count: u64(p.cgroup.pids) }
        : null,
      containers: p.containers.map(containerStats),
    },
  };
}

/**
 * ImageFsInfo with both lists filled, as CRI-O does: kubelet's eviction manager reads
 * `container_filesystems` to decide whether containers and images share a disk.
 */
export function imageFsInfo(
  images: FilesystemUsageSample,
  containers: FilesystemUsageSample,
): DeepPartial<ImageFsInfoResponse> {
  return {
    image_filesystems: [filesystemUsage(images, images.at)],
    container_filesystems: [filesystemUsage(containers, containers.at)],
  };
}
