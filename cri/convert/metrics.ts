/**
 * Pod and container usage as cAdvisor-named metrics, for kubelet's CRI-only stats
 * (`/metrics/cadvisor`): ListMetricDescriptors and ListPodSandboxMetrics.
 */
import type { PodUsage } from "../../runtime/stats/collector.ts";
import type { CgroupSample } from "../../runtime/stats/types.ts";
import type { Metric, MetricDescriptor, PodSandboxMetrics } from "../types.ts";
import type { DeepPartial } from "../handler.ts";
import { nanos, u64 } from "./values.ts";

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

export function podSandboxMetrics(p: PodUsage, now = Date.now()): DeepPartial<PodSandboxMetrics> {
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

/** ListMetricDescriptors: every metric podSandboxMetrics may report. */
export function metricDescriptors(): MetricDescriptor[] {
  return Object.values(METRICS).map((m) => m.desc);
}
