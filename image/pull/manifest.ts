/**
 * Pull step 1: the manifest. Fetches what the reference names; an index (or Docker list)
 * resolves to this node's platform manifest; schema 1 and nested indexes are refused.
 */
import { FailedPreconditionError } from "../../core/errors.ts";
import { parsePlatform, selectPlatform } from "../platform.ts";
import { type ImageReference, isDigest } from "../reference.ts";
import type { Credentials } from "../registry/auth.ts";
import { type FetchedManifest, MEDIA_TYPES } from "../registry/client.ts";
import type { BlobSource, PullContext } from "./context.ts";
import { shown } from "./limits.ts";
import { type Descriptor, isIndexType, type ManifestJson, parseJson } from "./oci_json.ts";

export interface ResolvedManifest {
  source: BlobSource;
  /** What the reference names: the platform manifest, or the index that listed it. */
  top: FetchedManifest;
  /** The platform manifest (`top` itself when the reference names no index). */
  manifest: FetchedManifest;
  /** Manifest and index digests the image keeps. */
  manifestBlobs: string[];
  config: Descriptor;
  layers: Descriptor[];
}

export async function resolveManifest(
  ctx: PullContext,
  ref: ImageReference,
  name: string,
  creds: Credentials | undefined,
  signal: AbortSignal,
): Promise<ResolvedManifest> {
  const all = ctx.client.endpoints(ref.domain, creds);
  const top = await ctx.client.getManifest(all, ref.path, ref.digest ?? ref.tag!, signal);
  // Blobs come from the endpoint that served the manifest first, then the others.
  const source: BlobSource = {
    endpoints: [top.endpoint, ...all.filter((e) => e !== top.endpoint)],
    repo: ref.path,
    signal,
  };
  if (
    top.mediaType === MEDIA_TYPES.dockerSchema1 ||
    top.mediaType === MEDIA_TYPES.dockerSchema1Signed
  ) {
    throw new FailedPreconditionError(
      `${name} is a Docker schema 1 image, which Skiff does not support; push it again with a current client`,
    );
  }
  refuseUnknownType(name, top);
  const manifest = isIndexType(top.mediaType)
    ? await platformManifest(ctx, source, name, top)
    : top;
  const m = parseJson<ManifestJson>(manifest.bytes, `${name}: manifest ${manifest.digest}`);
  if (!m.config || !Array.isArray(m.layers) || !isDigest(m.config.digest)) {
    throw new FailedPreconditionError(
      `${name}: manifest ${manifest.digest} has no config or layers`,
    );
  }
  const manifestBlobs = manifest === top ? [top.digest] : [top.digest, manifest.digest];
  return { source, top, manifest, manifestBlobs, config: m.config, layers: m.layers };
}

/** The manifest an index lists for the configured (or this node's) platform. */
async function platformManifest(
  ctx: PullContext,
  source: BlobSource,
  name: string,
  index: FetchedManifest,
): Promise<FetchedManifest> {
  const parsed = parseJson<ManifestJson>(index.bytes, `${name}: index ${index.digest}`);
  const want = parsePlatform(ctx.config().image.platform);
  const chosen = selectPlatform(parsed.manifests ?? [], want, name);
  const manifest = await ctx.client.getManifest(
    source.endpoints,
    source.repo,
    chosen.digest,
    source.signal,
  );
  if (isIndexType(manifest.mediaType)) {
    throw new FailedPreconditionError(`${name}: nested indexes are not supported`);
  }
  refuseUnknownType(name, manifest);
  if (manifest.bytes.length !== chosen.size) {
    throw new FailedPreconditionError(
      `${name}: manifest ${chosen.digest} is ${manifest.bytes.length} bytes, its index says ${chosen.size}`,
    );
  }
  return manifest;
}

const KNOWN_TYPES = new Set<string>([
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerList,
]);

/** Only OCI and Docker schema 2 manifests and indexes are images Skiff can pull. */
function refuseUnknownType(name: string, m: FetchedManifest): void {
  if (KNOWN_TYPES.has(m.mediaType)) return;
  throw new FailedPreconditionError(
    `${name}: manifest ${m.digest} has media type ${shown(m.mediaType)}, ` +
      `which is not an OCI or Docker schema 2 image manifest or index`,
  );
}
