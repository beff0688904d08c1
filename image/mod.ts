/**
 * Image service: the public surface of image/.
 *
 * On-disk layout, under `<root_dir>/image/`:
 *
 *   content/blobs/sha256/<hex>     verified blobs: manifests, indexes, configs, compressed layers
 *   content/ingest/<hex>.<rand>    downloads in flight (a crash leaves them; start-up removes them)
 *   layers/sha256/<chain-id hex>/  unpacked layers, one per chain ID: overlay lowerdirs
 *   layers/tmp/unpack-<rand>/      unpacks in flight (same clean-up)
 *
 * Image and layer records are in the metadata store (collections `images`, `image_layers`).
 * `ImageService` implements `ImageProvider` (runtime/contracts.ts) for the container service,
 * and is given an `ImageUsage` at construction so RemoveImage refuses images in use.
 */
import type { Config } from "../core/config/mod.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Store } from "../store/mod.ts";
import type { ImageUsage } from "../runtime/contracts.ts";
import { ContentStore } from "./content.ts";
import { type LayerRecord, LayerStore } from "./layers.ts";
import { ImageService } from "./service.ts";

export { ImageService } from "./service.ts";
export type { FsUsage, ImageRecord, LayerDescriptor, PullOptions } from "./service.ts";
export type { LayerProgress, PullProgress } from "./progress.ts";
export { formatReference, parseReference } from "./reference.ts";

export function imageDir(config: Config): string {
  return `${config.root_dir}/image`;
}

export interface OpenImageServiceOptions {
  config: () => Config;
  store: Store;
  log: Logger;
  fetchImpl?: typeof fetch;
  metrics?: MetricsRegistry;
  usage?: ImageUsage;
}

/** Opens the stores, removes leftovers of interrupted pulls and runs GC. */
export function openImageService(opts: OpenImageServiceOptions): ImageService {
  const dir = imageDir(opts.config());
  const content = new ContentStore(`${dir}/content`);
  const layers = new LayerStore(
    `${dir}/layers`,
    opts.store.collection<LayerRecord>("image_layers"),
  );
  const service = new ImageService({ ...opts, content, layers, dir });
  service.recover();
  return service;
}
