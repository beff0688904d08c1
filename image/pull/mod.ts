/**
 * One pull, step by step: resolve the manifest (manifest.ts), fetch the config
 * (image_config.ts), make the layers present (layers.ts), then commit: store the manifests
 * and config, and build the image record. Everything the pull needs is held against GC
 * until it is recorded.
 */
import { digestedName, formatReference, type ImageReference, taggedName } from "../reference.ts";
import type { ImageRecord, LayerDescriptor } from "../image_store.ts";
import type { Credentials } from "../registry/auth.ts";
import type { PullContext } from "./context.ts";
import { type FetchedConfig, fetchImageConfig, layerDescriptors } from "./image_config.ts";
import { fetchLayers } from "./layers.ts";
import { checkImageShape } from "./limits.ts";
import { type ResolvedManifest, resolveManifest } from "./manifest.ts";

export type { BlobSource, PullContext } from "./context.ts";

/** Saves the record under the pulled tag and digest name (the image store's `save`). */
export type SaveImage = (record: ImageRecord, tag: string | undefined, digestName: string) => void;

export async function pullImage(
  ctx: PullContext,
  ref: ImageReference,
  creds: Credentials | undefined,
  signal: AbortSignal,
  save: SaveImage,
): Promise<string> {
  const name = formatReference(ref);
  const started = Date.now();
  const resolved = await resolveManifest(ctx, ref, name, creds, signal);
  checkImageShape(ctx.config(), name, resolved.config, resolved.layers);
  const release = ctx.hold([
    ...resolved.manifestBlobs,
    resolved.config.digest,
    ...resolved.layers.map((l) => l.digest),
  ]);
  try {
    const config = await fetchImageConfig(ctx, resolved.source, name, resolved.config);
    const layers = layerDescriptors(name, config.json, resolved.layers);
    const releaseLayers = ctx.hold(layers.map((l) => l.chainId));
    try {
      await fetchLayers(ctx, resolved.source, name, layers);
    } finally {
      releaseLayers();
    }
    const record = await commit(ctx, resolved, config, layers);
    save(record, taggedName(ref), digestedName(ref, resolved.top.digest));
    ctx.log.info("image pulled", {
      image: name,
      id: record.id,
      layers: layers.length,
      bytes: record.size,
      ms: Date.now() - started,
    });
    return record.id;
  } finally {
    release();
  }
}

/** Everything is in place: store the config and manifests, and describe the image. */
async function commit(
  ctx: PullContext,
  resolved: ResolvedManifest,
  config: FetchedConfig,
  layers: LayerDescriptor[],
): Promise<ImageRecord> {
  const { top, manifest } = resolved;
  await ctx.content.put(resolved.config.digest, config.bytes);
  await ctx.content.put(top.digest, top.bytes);
  if (manifest !== top) await ctx.content.put(manifest.digest, manifest.bytes);
  const json = config.json;
  return {
    id: resolved.config.digest,
    repoTags: [],
    repoDigests: [],
    manifestDigest: manifest.digest,
    manifestMediaType: manifest.mediaType,
    manifestBlobs: resolved.manifestBlobs,
    configSize: config.bytes.length,
    layers,
    size: config.bytes.length + layers.reduce((n, l) => n + l.size, 0),
    user: json.config?.User ?? "",
    config: json.config ?? {},
    platform: {
      os: json.os ?? "",
      architecture: json.architecture ?? "",
      ...(json.variant ? { variant: json.variant } : {}),
    },
    pulledAt: Date.now(),
  };
}
