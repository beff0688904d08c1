/**
 * ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats,
 * ListPodSandboxStats, StreamPodSandboxStats, ListMetricDescriptors, ListPodSandboxMetrics,
 * StreamPodSandboxMetrics: the usage the stats collector read, as CRI messages, and as
 * cAdvisor-named metrics for kubelet's CRI-only stats (`/metrics/cadvisor`).
 */
import { NotFoundError } from "../../core/errors.ts";
import type { ContainerUsage, PodUsage, StatsCollector } from "../../runtime/stats/collector.ts";
import type { CgroupSample, Psi, PsiLine } from "../../runtime/stats/types.ts";
import type {
  ContainerStats,
  ContainerStatsFilter,
  Metric,
  MetricDescriptor,
  PodSandboxMetrics,
  PodSandboxStats,
  PodSandboxStatsFilter,
  PsiData,
  PsiStats,
  UInt64Value,
} from "../types.ts";
import { type CriHandlers, type DeepPartial, nanos } from "../handler.ts";

export interface StatsDeps {
  collector: StatsCollector;
}

/** Stream* RPCs send lists in pages of this many, then end (as the streaming list KEP). */
const STREAM_PAGE = 100;

const u64 = (v: number | bigint): DeepPartial<UInt64Value> => ({ value: String(v) });

function psiData(l: PsiLine): DeepPartial<PsiData> {
  return { Total: String(l.totalNs), Avg10: l.avg10, Avg60: l.avg60, Avg300: l.avg300 };
}

function psiStats(p: Psi | null): DeepPartial<PsiStats> | null {
  return p ? { Some: psiData(p.some), Full: p.full ? psiData(p.full) : null } : null;
}

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
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

export function containerStatsMessage(u: ContainerUsage): DeepPartial<ContainerStats> {
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

export function podSandboxStatsMessage(p: PodUsage): DeepPartial<PodSandboxStats> {
  const s = p.sandbox;
  const { cpu, memory, io } = usageParts(p.cgroup, p.cpuNanoCores);
  const ts = nanos(p.cgroup?.at ?? Date.now());
  const ifaces = (p.network ?? []).map((i) => ({
    name: i.name,
    rx_bytes: u64(i.rxBytes),
    rx_errors: u64(i.rxErrors),
    tx_bytes: u64(i.txBytes),
    tx_errors: u64(i.txErrors),
  }));
  // kubelet reports eth0 (what CNI names the pod side) as the pod's default interface.
  const def = ifaces.find((i) => i.name === "eth0") ?? ifaces.find((i) => i.name !== "lo");
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
      network: p.network
        ? {
          timestamp: ts,
          default_interface: def ?? null,
          interfaces: ifaces.filter((i) => i !== def),
        }
        : null,
      process: p.cgroup?.pids !== null && p.cgroup?.pids !== undefined
        ? { timestamp: ts, process_count: u64(p.cgroup.pids) }
        : null,
      containers: p.containers.map(containerStatsMessage),
    },
  };
}

function containerFilter(f: ContainerStatsFilter | null | undefined) {
  return (c: { id: string; sandboxId: string; labels: Record<string, string> }) =>
    (!f?.id || c.id === f.id) &&
    (!f?.pod_sandbox_id || c.sandboxId === f.pod_sandbox_id) &&
    labelsMatch(f?.label_selector, c.labels);
}

function podFilter(f: PodSandboxStatsFilter | null | undefined) {
  return (s: { id: string; labels: Record<string, string> }) =>
    (!f?.id || s.id === f.id) && labelsMatch(f?.label_selector, s.labels);
}

// ---------------------------------------------------------------------------------------
// cAdvisor-named metrics

const BASE_LABELS = ["id", "name", "image"];

interface MetricDef {
  desc: MetricDescriptor;
  type: "COUNTER" | "GAUGE";
}

const def = (
  name: string,
  help: string,
  type: "COUNTER" | "GAUGE",
  extra: string[] = [],
): MetricDef => ({ desc: { name, help, label_keys: [...BASE_LABELS, ...extra] }, type });

/** Every metric Skiff reports, with cAdvisor's names, help and label keys. */
export const METRICS = {
  cpuUsage: def(
    "container_cpu_usage_seconds_total",
    "Cumulative CPU time consumed in seconds.",
    "COUNTER",
    ["cpu"],
  ),
  memUsage: def(
    "container_memory_usage_bytes",
    "Current memory usage in bytes, including all memory regardless of when it was accessed",
    "GAUGE",
  ),
  memWorkingSet: def(
    "container_memory_working_set_bytes",
    "Current working set in bytes.",
    "GAUGE",
  ),
  memRss: def("container_memory_rss", "Size of RSS in bytes.", "GAUGE"),
  memSwap: def("container_memory_swap", "Container swap usage in bytes.", "GAUGE"),
  memFailures: def(
    "container_memory_failures_total",
    "Cumulative count of memory allocation failures.",
    "COUNTER",
    ["failure_type", "scope"],
  ),
  processes: def(
    "container_processes",
    "Number of processes running inside the container.",
    "GAUGE",
  ),
  startTime: def(
    "container_start_time_seconds",
    "Start time of the container since unix epoch in seconds.",
    "GAUGE",
  ),
  fsUsage: def(
    "container_fs_usage_bytes",
    "Number of bytes that are consumed by the container on this filesystem.",
    "GAUGE",
    ["device"],
  ),
  fsInodes: def(
    "container_fs_inodes_total",
    "Number of Inodes",
    "GAUGE",
    ["device"],
  ),
  lastSeen: def(
    "container_last_seen",
    "Last time a container was seen by the exporter",
    "GAUGE",
  ),
  netRxBytes: def(
    "container_network_receive_bytes_total",
    "Cumulative count of bytes received",
    "COUNTER",
    ["interface"],
  ),
  netRxPackets: def(
    "container_network_receive_packets_total",
    "Cumulative count of packets received",
    "COUNTER",
    ["interface"],
  ),
  netRxDropped: def(
    "container_network_receive_packets_dropped_total",
    "Cumulative count of packets dropped while receiving",
    "COUNTER",
    ["interface"],
  ),
  netRxErrors: def(
    "container_network_receive_errors_total",
    "Cumulative count of errors encountered while receiving",
    "COUNTER",
    ["interface"],
  ),
  netTxBytes: def(
    "container_network_transmit_bytes_total",
    "Cumulative count of bytes transmitted",
    "COUNTER",
    ["interface"],
  ),
  netTxPackets: def(
    "container_network_transmit_packets_total",
    "Cumulative count of packets transmitted",
    "COUNTER",
    ["interface"],
  ),
  netTxDropped: def(
    "container_network_transmit_packets_dropped_total",
    "Cumulative count of packets dropped while transmitting",
    "COUNTER",
    ["interface"],
  ),
  netTxErrors: def(
    "container_network_transmit_errors_total",
    "Cumulative count of errors encountered while transmitting",
    "COUNTER",
    ["interface"],
  ),
} as const;

class MetricList {
  readonly out: DeepPartial<Metric>[] = [];
  constructor(private readonly base: string[], private readonly ts: string) {}
  add(m: MetricDef, value: number | bigint | null | undefined, extra: string[] = []): void {
    if (value === null || value === undefined) return;
    this.out.push({
      name: m.desc.name,
      timestamp: this.ts,
      metric_type: m.type,
      label_values: [...this.base, ...extra],
      value: u64(value),
    });
  }
}

/** Metric values are uint64: seconds-named counters carry whole seconds, as cAdvisor's unit. */
const seconds = (ns: bigint) => ns / 1_000_000_000n;

function cgroupMetrics(list: MetricList, cg: CgroupSample | null): void {
  if (!cg) return;
  list.add(METRICS.cpuUsage, cg.cpu ? seconds(cg.cpu.usageNs) : null, ["total"]);
  const m = cg.memory;
  if (m) {
    list.add(METRICS.memUsage, m.usageBytes);
    list.add(METRICS.memWorkingSet, m.workingSetBytes);
    list.add(METRICS.memRss, m.rssBytes);
    list.add(METRICS.memFailures, m.pageFaults, ["pgfault", "container"]);
    list.add(METRICS.memFailures, m.majorPageFaults, ["pgmajfault", "container"]);
  }
  list.add(METRICS.memSwap, cg.swap?.usageBytes);
  list.add(METRICS.processes, cg.pids);
}

export function podSandboxMetricsMessage(p: PodUsage): DeepPartial<PodSandboxMetrics> {
  const now = Date.now();
  const ts = nanos(now);
  // As CRI-O: the pod itself is the "POD" container with no image.
  const pod = new MetricList([p.sandbox.id, "POD", ""], ts);
  cgroupMetrics(pod, p.cgroup);
  pod.add(METRICS.lastSeen, Math.floor(now / 1000));
  for (const i of p.network ?? []) {
    if (i.name === "lo") continue;
    pod.add(METRICS.netRxBytes, i.rxBytes, [i.name]);
    pod.add(METRICS.netRxPackets, i.rxPackets, [i.name]);
    pod.add(METRICS.netRxDropped, i.rxDropped, [i.name]);
    pod.add(METRICS.netRxErrors, i.rxErrors, [i.name]);
    pod.add(METRICS.netTxBytes, i.txBytes, [i.name]);
    pod.add(METRICS.netTxPackets, i.txPackets, [i.name]);
    pod.add(METRICS.netTxDropped, i.txDropped, [i.name]);
    pod.add(METRICS.netTxErrors, i.txErrors, [i.name]);
  }
  return {
    pod_sandbox_id: p.sandbox.id,
    metrics: pod.out,
    container_metrics: p.containers.map((u) => {
      const c = u.container;
      const list = new MetricList([c.id, c.name, c.image], ts);
      cgroupMetrics(list, u.cgroup);
      list.add(METRICS.lastSeen, Math.floor(now / 1000));
      if (c.startedAt > 0) list.add(METRICS.startTime, Math.floor(c.startedAt / 1000));
      if (u.writableLayer) {
        list.add(METRICS.fsUsage, u.writableLayer.usedBytes, [u.writableLayerMount]);
        list.add(METRICS.fsInodes, u.writableLayer.inodesUsed, [u.writableLayerMount]);
      }
      return { container_id: c.id, metrics: list.out };
    }),
  };
}

function pages<T>(items: T[]): T[][] {
  if (items.length === 0) return [[]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += STREAM_PAGE) out.push(items.slice(i, i + STREAM_PAGE));
  return out;
}

export function statsHandlers(deps: StatsDeps): CriHandlers {
  const { collector } = deps;
  return {
    ContainerStats: async (req) => {
      const u = await collector.containerUsage(req.container_id);
      if (!u) {
        throw new NotFoundError(
          `container "${req.container_id}" not found; list containers to see which exist`,
        );
      }
      return { stats: containerStatsMessage(u) };
    },

    ListContainerStats: async (req) => ({
      stats: (await collector.listContainerUsage(containerFilter(req.filter)))
        .map(containerStatsMessage),
    }),

    StreamContainerStats: async (req, _ctx, send) => {
      const all = await collector.listContainerUsage(containerFilter(req.filter));
      for (const page of pages(all)) {
        await send({ container_stats: page.map(containerStatsMessage) });
      }
    },

    PodSandboxStats: async (req) => {
      const p = await collector.podUsage(req.pod_sandbox_id);
      if (!p) {
        throw new NotFoundError(
          `pod sandbox "${req.pod_sandbox_id}" not found; list pod sandboxes to see which exist`,
        );
      }
      return { stats: podSandboxStatsMessage(p) };
    },

    ListPodSandboxStats: async (req) => ({
      stats: (await collector.listPodUsage(podFilter(req.filter))).map(podSandboxStatsMessage),
    }),

    StreamPodSandboxStats: async (req, _ctx, send) => {
      const all = await collector.listPodUsage(podFilter(req.filter));
      for (const page of pages(all)) {
        await send({ pod_sandbox_stats: page.map(podSandboxStatsMessage) });
      }
    },

    ListMetricDescriptors: async () => ({
      descriptors: Object.values(METRICS).map((m) => m.desc),
    }),

    ListPodSandboxMetrics: async () => ({
      pod_metrics: (await collector.listPodUsage()).map(podSandboxMetricsMessage),
    }),

    StreamPodSandboxMetrics: async (_req, _ctx, send) => {
      const all = await collector.listPodUsage();
      for (const page of pages(all)) {
        await send({ pod_sandbox_metrics: page.map(podSandboxMetricsMessage) });
      }
    },
  };
}
