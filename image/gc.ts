/**
 * Image garbage collection: blobs and unpacked layers no image references go, except what
 * pulls in flight still need.
 */
import type { Logger } from "../core/log.ts";
import type { ContentStore } from "./content.ts";
import type { ImageStore } from "./image_store.ts";
import type { LayerStore } from "./layers.ts";

export interface GcInputs {
  images: ImageStore;
  content: ContentStore;
  layers: LayerStore;
  /** A blob digest or chain ID an in-flight pull holds. */
  held: (key: string) => boolean;
  /** A layer being unpacked right now. */
  unpacking: (chainId: string) => boolean;
  log: Logger;
}

export function collectGarbage(g: GcInputs): { blobs: number; layers: number } {
  const blobs = new Set<string>();
  const chains = new Set<string>();
  for (const r of g.images.values()) {
    for (const d of r.manifestBlobs) blobs.add(d);
    blobs.add(r.id);
    for (const l of r.layers) {
      blobs.add(l.digest);
      chains.add(l.chainId);
    }
  }
  let nBlobs = 0;
  let nLayers = 0;
  for (const d of g.content.list()) {
    if (!blobs.has(d) && !g.held(d) && g.content.delete(d)) nBlobs++;
  }
  const removable = (chainId: string) =>
    !chains.has(chainId) && !g.held(chainId) && !g.unpacking(chainId);
  for (const rec of g.layers.list()) {
    if (removable(rec.chainId)) {
      g.layers.delete(rec.chainId);
      nLayers++;
    }
  }
  // Directories without a record (a crash between rename and record).
  const known = new Set(g.layers.list().map((r) => r.chainId));
  for (const c of g.layers.dirsOnDisk()) {
    if (!known.has(c) && !g.held(c) && !g.unpacking(c)) {
      g.layers.delete(c);
      nLayers++;
    }
  }
  if (nBlobs || nLayers) g.log.info("image gc", { blobs: nBlobs, layers: nLayers });
  return { blobs: nBlobs, layers: nLayers };
}
