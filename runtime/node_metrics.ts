/**
 * Skiff's own Prometheus metrics beyond per-RPC latency (which cri/server.ts records):
 * pods and containers by state, container start latency, restarts, OOM kills, image pull
 * bytes/durations/failures, CNI ADD/DEL latency, conmon processes, Skiff's RSS, event-loop
 * lag and event subscribers. Cheap values are sampled when /metrics is scraped; the rest are
 * observed by wrapping the CRI handlers (so in-process callers such as the admin API count
 * too) and by following the container event bus.
 */
import type { Counter, Histogram, MetricsRegistry } from "../core/metrics.ts";
import type { Logger } from "../core/log.ts";
import { grpcCode, grpcCodeName } from "../cri/errors.ts";
import type { CallContext, CriHandlers, HandlerFor } from "../cri/handler.ts";
import type { ContainerEvent } from "./contracts.ts";
import { type EventBus, SubscriberDroppedError } from "./events.ts";

export interface NodeMetricsDeps {
  registry: MetricsRegistry;
  events: EventBus<ContainerEvent>;
  /** Counts by CRI state name, sampled at scrape time. */
  podsByState: () => Record<string, number>;
  containersByState: () => Record<string, number>;
  /** The reason a container ended with (`OOMKilled`, `Completed`…), if known. */
  containerExitReason: (id: string) => string | undefined;
  /** conmon processes belong to this Skiff when their command line mentions this dir. */
  stateDir: string;
  log: Logger;
}

const SIZE_BUCKETS = [1e5, 1e6, 1e7, 5e7, 1e8, 5e8, 1e9, 5e9];

export class NodeMetrics {
  private readonly startLatency: Histogram;
  private readonly restarts: Counter;
  private readonly oomKills: Counter;
  private readonly pullSize: Histogram;
  private readonly pullFailures: Counter;
  private readonly cniLatency: Histogram;
  private readonly eventDrops: Counter;
  private lagSeconds = 0;
  private lagTimer: ReturnType<typeof setInterval> | undefined;
  private stopped = false;
  private following: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
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
    this.startLatency = r.histogram(
      "skiff_container_start_duration_seconds",
      "Time StartContainer took for containers that started.",
    );
    this.restarts = r.counter(
      "skiff_container_restarts_total",
      "Containers created with attempt > 0: kubelet restarting a container.",
    );
    this.oomKills = r.counter(
      "skiff_container_oom_kills_total",
      "Containers that ended OOMKilled.",
    );
    this.pullSize = r.histogram(
      "skiff_image_pull_size_bytes",
      "Sizes of pulled images.",
      SIZE_BUCKETS,
    );
    this.pullFailures = r.counter(
      "skiff_image_pull_failures_total",
      "Failed image pulls, by reason (gRPC code).",
    );
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

  /** Starts the lag probe and follows container events (for OOM kills). */
  start(): void {
    const periodMs = 500;
    let expected = performance.now() + periodMs;
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.lagSeconds = Math.max(0, now - expected) / 1000;
      expected = now + periodMs;
    }, periodMs);
    Deno.unrefTimer(this.lagTimer);
    this.following = this.follow();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.lagTimer);
    this.unsubscribe?.();
    await this.following;
  }

  private async follow(): Promise<void> {
    while (!this.stopped) {
      const sub = this.deps.events.subscribe({ buffer: 10_000 });
      this.unsubscribe = () => sub.close();
      try {
        for await (const ev of sub) {
          if (ev.type !== "CONTAINER_STOPPED_EVENT") continue;
          if (this.deps.containerExitReason(ev.containerId) === "OOMKilled") this.oomKills.inc();
        }
        return; // closed: shutting down
      } catch (err) {
        if (!(err instanceof SubscriberDroppedError)) throw err;
        this.deps.log.warn("metrics fell behind the event bus; resubscribing");
      }
    }
  }

  /** For the CNI runner (`observeCniCalls`): one plugin's ADD, CHECK or DEL. */
  observeCni(op: "ADD" | "DEL" | "CHECK", plugin: string, seconds: number, ok: boolean): void {
    this.cniLatency.observe({ op, plugin, result: ok ? "ok" : "error" }, seconds);
  }

  private countConmon(): number {
    let n = 0;
    try {
      for (const e of Deno.readDirSync("/proc")) {
        if (!/^\d+$/.test(e.name)) continue;
        try {
          if (Deno.readTextFileSync(`/proc/${e.name}/comm`).trim() !== "conmon") continue;
          const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
          if (cmd.includes(this.deps.stateDir)) n++;
        } catch { /* exited while we looked */ }
      }
    } catch { /* no /proc */ }
    return n;
  }

  /**
   * Wraps StartContainer, CreateContainer and PullImage in `handlers` (in place) to time
   * and count them.
   */
  instrument(handlers: CriHandlers): void {
    const start = handlers.StartContainer as HandlerFor<"StartContainer"> | undefined;
    if (start) {
      handlers.StartContainer = async (req, ctx) => {
        const t0 = performance.now();
        const res = await start(req, ctx);
        this.startLatency.observe({}, (performance.now() - t0) / 1000);
        return res;
      };
    }
    const create = handlers.CreateContainer as HandlerFor<"CreateContainer"> | undefined;
    if (create) {
      handlers.CreateContainer = async (req, ctx) => {
        const res = await create(req, ctx);
        if ((req.config?.metadata?.attempt ?? 0) > 0) this.restarts.inc();
        return res;
      };
    }
    const pull = handlers.PullImage as HandlerFor<"PullImage"> | undefined;
    if (pull) {
      handlers.PullImage = async (req, ctx) => {
        try {
          const res = await pull(req, ctx);
          await this.countPulledBytes(handlers, res.image_ref ?? "", ctx);
          return res;
        } catch (err) {
          const reason = grpcCodeName(grpcCode(err));
          this.pullFailures.inc({ reason });
          throw err;
        }
      };
    }
  }

  private async countPulledBytes(h: CriHandlers, ref: string, ctx: CallContext): Promise<void> {
    const status = h.ImageStatus as HandlerFor<"ImageStatus"> | undefined;
    if (!status || !ref) return;
    try {
      const image = {
        image: ref,
        annotations: {},
        user_specified_image: "",
        runtime_handler: "",
        image_ref: "",
      };
      const res = await status({ image, verbose: false }, ctx);
      const size = Number(res.image?.size ?? 0);
      if (size > 0) {
        this.pullSize.observe({}, size);
      }
    } catch { /* removed meanwhile: nothing to count */ }
  }
}

/** How many times each value occurs (for the by-state gauges). */
export function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
