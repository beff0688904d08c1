/**
 * The image metrics. image/ is their one owner: pulls by result, pull durations, blob
 * bytes fetched (counted once, as they arrive, whoever waits for them), pulled image sizes,
 * failures by reason, images and store size.
 */
import { errorKind } from "../core/errors.ts";
import type { Counter, Histogram, MetricsRegistry } from "../core/metrics.ts";

const PULL_SECONDS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const SIZE_BUCKETS = [1e5, 1e6, 1e7, 5e7, 1e8, 5e8, 1e9, 5e9];

export interface ImageMetricsSources {
  images: () => number;
  storeBytes: () => number;
}

export class ImageMetrics {
  private readonly pulls: Counter;
  private readonly pullSeconds: Histogram;
  private readonly bytes: Counter;
  private readonly sizes: Histogram;
  private readonly failures: Counter;

  constructor(registry: MetricsRegistry, sources: ImageMetricsSources) {
    this.pulls = registry.counter(
      "skiff_image_pulls_total",
      "Image pulls by result (ok or error kind)",
    );
    this.pullSeconds = registry.histogram(
      "skiff_image_pull_duration_seconds",
      "Time image pulls took, by result (ok or the gRPC code).",
      PULL_SECONDS_BUCKETS,
    );
    this.bytes = registry.counter(
      "skiff_image_pull_bytes_total",
      "Blob bytes (configs and compressed layers) fetched from registries by pulls.",
    );
    this.sizes = registry.histogram(
      "skiff_image_pull_size_bytes",
      "Sizes of pulled images (config and compressed layers).",
      SIZE_BUCKETS,
    );
    this.failures = registry.counter(
      "skiff_image_pull_failures_total",
      "Failed image pulls, by reason (gRPC code).",
    );
    const images = registry.gauge("skiff_images", "Images in the image store");
    images.onCollect(() => images.set({}, sources.images()));
    const used = registry.gauge(
      "skiff_image_store_bytes",
      "Bytes used by blobs and unpacked layers",
    );
    used.onCollect(() => used.set({}, sources.storeBytes()));
  }

  /** A pull request succeeded (concurrent requests sharing one pull each count). */
  pullSucceeded(seconds: number, imageBytes: number): void {
    this.pulls.inc({ result: "ok" });
    this.pullSeconds.observe({ result: "ok" }, seconds);
    this.sizes.observe({}, imageBytes);
  }

  /** A pull request failed. */
  pullFailed(error: unknown, seconds: number): void {
    const kind = errorKind(error);
    this.pulls.inc({ result: kind });
    // The gRPC code name: the error kinds are the codes in lower case (cri/errors.ts).
    const code = kind.toUpperCase();
    this.pullSeconds.observe({ result: code }, seconds);
    this.failures.inc({ reason: code });
  }

  bytesFetched(n: number): void {
    this.bytes.inc({}, n);
  }
}
