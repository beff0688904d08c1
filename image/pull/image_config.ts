/**
 * Pull step 2: the image config. Read from the content store when present, else fetched;
 * its diff IDs pair with the manifest's layers to give each layer its chain ID.
 */
import { FailedPreconditionError } from "../../core/errors.ts";
import type { LayerDescriptor } from "../image_store.ts";
import { chainIds } from "../layers.ts";
import { isDigest } from "../reference.ts";
import type { BlobSource, PullContext } from "./context.ts";
import { shown } from "./limits.ts";
import { type ConfigJson, type Descriptor, parseJson } from "./oci_json.ts";

export interface FetchedConfig {
  bytes: Uint8Array;
  json: ConfigJson;
}

export async function fetchImageConfig(
  ctx: PullContext,
  source: BlobSource,
  name: string,
  desc: Descriptor,
): Promise<FetchedConfig> {
  let bytes: Uint8Array;
  if (ctx.content.has(desc.digest)) {
    bytes = ctx.content.read(desc.digest);
  } else {
    ctx.downloadStarted(desc.digest);
    // Never more than the descriptor's size (checked against image.max_config_bytes).
    bytes = await ctx.client.getBlobBytes(
      source.endpoints,
      source.repo,
      desc.digest,
      source.signal,
      desc.size,
    );
    ctx.bytesFetched(bytes.length);
  }
  return { bytes, json: parseJson<ConfigJson>(bytes, `${name}: config ${desc.digest}`) };
}

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** The manifest's layers with the config's diff IDs and the chain IDs they give. */
export function layerDescriptors(
  name: string,
  config: ConfigJson,
  layers: Descriptor[],
): LayerDescriptor[] {
  const raw: unknown = config.rootfs?.diff_ids ?? [];
  // Diff IDs name layer directories (the first chain ID is the first diff ID): only
  // sha256 digests, never a string that could be a path.
  if (!Array.isArray(raw) || !raw.every((d) => typeof d === "string" && SHA256.test(d))) {
    throw new FailedPreconditionError(
      `${name}: the config's rootfs.diff_ids are not sha256 digests`,
    );
  }
  const diffIds = raw as string[];
  if (diffIds.length !== layers.length) {
    throw new FailedPreconditionError(
      `${name}: the config lists ${diffIds.length} layers, the manifest ${layers.length}`,
    );
  }
  const chains = chainIds(diffIds);
  return layers.map((l, i) => {
    if (!isDigest(l.digest)) {
      throw new FailedPreconditionError(`${name}: bad layer digest ${shown(l.digest)}`);
    }
    return {
      digest: l.digest,
      mediaType: l.mediaType ?? "",
      size: l.size,
      diffId: diffIds[i],
      chainId: chains[i],
    };
  });
}
