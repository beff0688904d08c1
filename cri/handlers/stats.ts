/**
 * ContainerStats, ListContainerStats, StreamContainerStats, PodSandboxStats,
 * ListPodSandboxStats, StreamPodSandboxStats, ListMetricDescriptors, ListPodSandboxMetrics,
 * StreamPodSandboxMetrics, and the ImageService's ImageFsInfo: what the stats collector read,
 * converted (cri/convert/stats.ts, cri/convert/metrics.ts).
 */
import { NotFoundError } from "../../core/errors.ts";
import type { StatsCollector } from "../../runtime/stats/collector.ts";
import type { CriHandlers } from "../handler.ts";
import {
  containerStats,
  containerStatsFilter,
  imageFsInfo,
  metricDescriptors,
  pages,
  podSandboxMetrics,
  podSandboxStats,
  podSandboxStatsFilter,
} from "../convert/mod.ts";

export { METRICS } from "../convert/metrics.ts";

/** What the image store occupies (ImageService.fsUsage). */
export interface ImageFsSource {
  fsUsage(): { mountpoint: string; usedBytes: number; inodesUsed: number };
}

export interface StatsDeps {
  collector: StatsCollector;
  /** Serves ImageFsInfo when given. */
  images?: ImageFsSource;
}

/** Stream* RPCs send lists in pages of this many, then end (as the streaming list KEP). */
const STREAM_PAGE = 100;

export function statsHandlers(deps: StatsDeps): CriHandlers {
  const { collector, images } = deps;
  const fsInfo: CriHandlers = images
    ? {
      ImageFsInfo: async () => {
        const image = { ...images.fsUsage(), at: Date.now() };
        return imageFsInfo(image, await collector.containerFilesystem(image.mountpoint));
      },
    }
    : {};
  return {
    ...fsInfo,
    ContainerStats: async (req) => {
      const u = await collector.containerUsage(req.container_id);
      if (!u) {
        throw new NotFoundError(
          `container "${req.container_id}" not found; list containers to see which exist`,
        );
      }
      return { stats: containerStats(u) };
    },

    ListContainerStats: async (req) => ({
      stats: (await collector.listContainerUsage(containerStatsFilter(req.filter)))
        .map(containerStats),
    }),

    StreamContainerStats: async (req, _ctx, send) => {
      const all = await collector.listContainerUsage(containerStatsFilter(req.filter));
      for (const page of pages(all, STREAM_PAGE)) {
        await send({ container_stats: page.map(containerStats) });
      }
    },

    PodSandboxStats: async (req) => {
      const p = await collector.podUsage(req.pod_sandbox_id);
      if (!p) {
        throw new NotFoundError(
          `pod sandbox "${req.pod_sandbox_id}" not found; list pod sandboxes to see which exist`,
        );
      }
      return { stats: podSandboxStats(p) };
    },

    ListPodSandboxStats: async (req) => ({
      stats: (await collector.listPodUsage(podSandboxStatsFilter(req.filter))).map(podSandboxStats),
    }),

    StreamPodSandboxStats: async (req, _ctx, send) => {
      const all = await collector.listPodUsage(podSandboxStatsFilter(req.filter));
      for (const page of pages(all, STREAM_PAGE)) {
        await send({ pod_sandbox_stats: page.map(podSandboxStats) });
      }
    },

    ListMetricDescriptors: async () => ({ descriptors: metricDescriptors() }),

    ListPodSandboxMetrics: async () => ({
      pod_metrics: (await collector.listPodUsage()).map((p) => podSandboxMetrics(p)),
    }),

    StreamPodSandboxMetrics: async (_req, _ctx, send) => {
      const all = await collector.listPodUsage();
      for (const page of pages(all, STREAM_PAGE)) {
        await send({ pod_sandbox_metrics: page.map((p) => podSandboxMetrics(p)) });
      }
    },
  };
}
