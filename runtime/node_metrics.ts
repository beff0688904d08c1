/**
 * Node-wide Prometheus metrics sampled when /metrics is scraped: pods and containers by
 * state, conmon processes, Skiff's RSS, event-loop lag and event subscribers; and CNI
 * ADD/DEL latency (fed by the CNI runner). Per-RPC latency is cri/server.ts's; container
 * starts, restarts and OOM kills are the container service's (runtime/container/metrics.ts)
 * and image pulls the image service's.
 */
import type { Counter, Histogram, MetricsRegistry } from "../core/metrics.ts";
import { findProcesses } from "../linux/processes.ts";
import type { ContainerEvent } from "./contracts.ts";
import type { EventBus } from "./events.ts";

export interface NodeMetricsDeps {
  registry: MetricsRegistry;
  events: EventBus<ContainerEvent>;
  /** Counts by CRI state name, sampled at scrape time. */
  podsByState: () => Record<string, number>;
  containersByState: () => Record<string, number>;
  /** conmon processes belong to this Skiff when their command line mentions this dir. */
  stateDir: string;
}

export class NodeMetrics {
  private readonly cniLatency: Histogram;
  private readonly eventDrops: Counter;
  private lagSeconds = 0;
  private lagTimer: ReturnType<typeof setInterval> | undefined;
  private droppedSeen = 0;

  constructor(private readonly deps: NodeMetricsDeps) {
    const r = deps.registry;
    const pods = r.gauge("skiff_pods", "Pod sandboxes by CRI state.");
    pods.onCollect(() => {
      pods.reset();
      for (const [state, n] of Object.entries(deps.podsByState())) pods.set({ state }, n);
    });
    const containers = r.gauge("skiff_containers", "Containers by CRI state.");
    containers.onCollect(() => {
      containers.reset();
      for (const [state, n] of Object.entries(deps.containersByState())) {
        containers.set({ state }, n);
      }
    });
    this.cniLatency = r.histogram(
      "skiff_cni_operation_duration_seconds",
      "CNI plugin calls (ADD, CHECK, DEL) durations, by operation, plugin and result.",
    );
    const conmon = r.gauge(
      "skiff_conmon_processes",
      "conmon monitor processes of this Skiff's containers.",
    );
    conmon.onCollect(() => conmon.set({}, this.countConmon()));
    const rss = r.gauge("process_resident_memory_bytes", "Skiff's resident memory.");
    rss.onCollect(() => rss.set({}, Deno.memoryUsage().rss));
    // What holds the memory: V8's heap (JS objects) against memory outside it (buffers).
    const heap = r.gauge(
      "skiff_v8_heap_bytes",
      "V8 heap of Skiff's process: used and total (reserved), and external memory.",
    );
    heap.onCollect(() => {
      const m = Deno.memoryUsage();
      heap.set({ kind: "used" }, m.heapUsed);
      heap.set({ kind: "total" }, m.heapTotal);
      heap.set({ kind: "external" }, m.external);
    });
    const lag = r.gauge(
      "skiff_event_loop_lag_seconds",
      "How late a 500 ms timer fired most recently: time the event loop was blocked.",
    );
    lag.onCollect(() => lag.set({}, this.lagSeconds));
    const subscribers = r.gauge(
      "skiff_container_event_subscribers",
      "Open container event subscriptions (GetContainerEvents streams and internal).",
    );
    // The drop counter is brought up to date here: gauges collect before the counter renders.
    subscribers.onCollect(() => {
      const s = deps.events.stats;
      subscribers.set({}, s.subscribers);
      if (s.dropped > this.droppedSeen) this.eventDrops.inc({}, s.dropped - this.droppedSeen);
      this.droppedSeen = s.dropped;
    });
    this.eventDrops = r.counter(
      "skiff_container_event_subscribers_dropped_total",
      "Event subscribers dropped because they fell behind.",
    );
  }

  /** Starts the event-loop lag probe. */
  start(): void {
    const periodMs = 500;
    let expected = performance.now() + periodMs;
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.lagSeconds = Math.max(0, now - expected) / 1000;
      expected = now + periodMs;
    }, periodMs);
    Deno.unrefTimer(this.lagTimer);
  }

  stop(): void {
    clearInterval(this.lagTimer);
  }

  /** For the CNI runner (`observeCniCalls`): one plugin's ADD, CHECK or DEL. */
  observeCni(op: "ADD" | "DEL" | "CHECK", plugin: string, seconds: number, ok: boolean): void {
    this.cniLatency.observe({ op, plugin, result: ok ? "ok" : "error" }, seconds);
  }

  private countConmon(): number {
    return findProcesses({ comm: "conmon", cmdlineIncludes: this.deps.stateDir }).length;
  }
}

/** How many times each value occurs (for the by-state gauges). */
export function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
