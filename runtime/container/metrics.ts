/**
 * What the container service counts and times, observed where it happens (not by wrapping
 * CRI handlers): admin API and CLI calls count as much as kubelet's.
 */
import type { MetricsRegistry } from "../../core/metrics.ts";

export interface ContainerMetrics {
  /** A container started; `seconds` is how long StartContainer took. */
  started(seconds: number): void;
  /** A container was created with attempt > 0: kubelet restarting a container. */
  restarted(): void;
  /** A running container ended OOM-killed. */
  oomKilled(): void;
  /** `pending` says how many removed containers' leftovers are still to be removed. */
  watchCleanups(pending: () => number): void;
}

/** For services nobody scrapes (tests, tools). */
export const NO_CONTAINER_METRICS: ContainerMetrics = {
  started() {},
  restarted() {},
  oomKilled() {},
  watchCleanups() {},
};

/** Registers the container metrics in `registry`; call once per registry. */
export function containerMetrics(registry: MetricsRegistry): ContainerMetrics {
  const startLatency = registry.histogram(
    "skiff_container_start_duration_seconds",
    "Time StartContainer took for containers that started.",
  );
  const restarts = registry.counter(
    "skiff_container_restarts_total",
    "Containers created with attempt > 0: kubelet restarting a container.",
  );
  const oomKills = registry.counter(
    "skiff_container_oom_kills_total",
    "Containers that ended OOMKilled.",
  );
  const cleanups = registry.gauge(
    "skiff_container_cleanups_pending",
    "Removed containers whose cgroups, mounts or directories are still to be removed.",
  );
  return {
    started: (seconds) => startLatency.observe({}, seconds),
    restarted: () => restarts.inc(),
    oomKilled: () => oomKills.inc(),
    watchCleanups: (pending) => cleanups.onCollect(() => cleanups.set({}, pending())),
  };
}
