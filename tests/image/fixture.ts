/**
 * An in-process image service over its own temp root and metadata store, for image tests
 * that need no CRI socket (the CRI-level tests use TestSkiff).
 */
import { type Config, defaultConfig } from "../../core/config/mod.ts";
import { logger } from "../../core/log.ts";
import { MetricsRegistry } from "../../core/metrics.ts";
import { Store } from "../../store/mod.ts";
import { type ImageService, openImageService } from "../../image/mod.ts";
import { makeTempDir } from "../helpers/env.ts";

export class ImageFixture {
  store: Store;
  images: ImageService;
  metrics = new MetricsRegistry();
  /** Which containers use an image: what the container service answers in a real Skiff. */
  inUse: (imageId: string) => string[] = () => [];
  private constructor(readonly root: string, readonly config: Config) {
    this.store = new Store(`${root}/skiff.db`);
    this.images = this.open();
  }

  private open(): ImageService {
    return openImageService({
      config: () => this.config,
      store: this.store,
      log: logger("image-test"),
      metrics: this.metrics,
      usage: { containersUsingImage: (id) => this.inUse(id) },
    });
  }

  static async create(edit?: (c: Config) => void): Promise<ImageFixture> {
    const root = await makeTempDir("image");
    const config = defaultConfig();
    config.root_dir = `${root}/root`;
    config.state_dir = `${root}/state`;
    edit?.(config);
    return new ImageFixture(root, config);
  }

  get imageDir(): string {
    return `${this.config.root_dir}/image`;
  }

  /** Re-opens the service on the same root (as a restarted Skiff would). */
  reopen(): void {
    this.store.close();
    this.store = new Store(`${this.root}/skiff.db`);
    // A restarted Skiff starts a new registry (a metric name has one owner per registry).
    this.metrics = new MetricsRegistry();
    this.images = this.open();
  }

  /** Files in ingest/ and layers/tmp/: must be 0 whenever no pull runs. */
  leftovers(): number {
    return this.images.content.ingestCount() + this.images.layers.tempCount();
  }

  layerDirCount(): number {
    return this.images.layers.dirsOnDisk().length;
  }

  async dispose(): Promise<void> {
    this.store.close();
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/** Waits until `cond` holds (polling), or throws after `ms`. */
export async function waitFor(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
