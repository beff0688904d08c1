/**
 * Pull progress: per-layer bytes done/total for every pull in flight, readable by the admin
 * API (`tracker.active()`) and logged at intervals so a slow pull is visible in the log.
 */
import type { Logger } from "../core/log.ts";

export interface LayerProgress {
  digest: string;
  total: number;
  done: number;
  complete: boolean;
}

export interface PullProgress {
  image: string;
  startedAt: number;
  layers: LayerProgress[];
}

const LOG_INTERVAL_MS = 5_000;

export class PullHandle {
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    readonly state: PullProgress,
    private readonly tracker: ProgressTracker,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => this.report(), LOG_INTERVAL_MS);
  }

  add(layer: number, bytes: number): void {
    this.state.layers[layer].done += bytes;
  }

  done(layer: number): void {
    const l = this.state.layers[layer];
    l.complete = true;
    l.done = Math.max(l.done, l.total);
  }

  private report(): void {
    const done = this.state.layers.reduce((n, l) => n + l.done, 0);
    const total = this.state.layers.reduce((n, l) => n + l.total, 0);
    this.log.info("pull progress", {
      image: this.state.image,
      bytes_done: done,
      bytes_total: total,
      layers_done: this.state.layers.filter((l) => l.complete).length,
      layers_total: this.state.layers.length,
      seconds: Math.round((Date.now() - this.state.startedAt) / 1000),
    });
  }

  finish(): void {
    clearInterval(this.timer);
    this.tracker.remove(this);
  }
}

export class ProgressTracker {
  private readonly pulls = new Set<PullHandle>();

  constructor(private readonly log: Logger) {}

  start(image: string, layers: { digest: string; total: number }[]): PullHandle {
    const h = new PullHandle(
      {
        image,
        startedAt: Date.now(),
        layers: layers.map((l) => ({ ...l, done: 0, complete: false })),
      },
      this,
      this.log,
    );
    this.pulls.add(h);
    return h;
  }

  remove(h: PullHandle): void {
    this.pulls.delete(h);
  }

  /** Snapshot of pulls in flight. */
  active(): PullProgress[] {
    return [...this.pulls].map((h) => structuredClone(h.state));
  }
}
