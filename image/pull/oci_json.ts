/** The registry JSON documents a pull reads: manifests, indexes and image configs. */
import { FailedPreconditionError } from "../../core/errors.ts";
import type { ImageRuntimeConfig } from "../../runtime/contracts.ts";
import type { Platform } from "../platform.ts";
import { MEDIA_TYPES } from "../registry/client.ts";

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

export interface ConfigJson {
  os?: string;
  architecture?: string;
  variant?: string;
  config?: ImageRuntimeConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
}

const dec = new TextDecoder();

/** Parses registry JSON; malformed content is the image's fault, not Skiff's. */
export function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T;
  } catch (e) {
    throw new FailedPreconditionError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

export function isIndexType(t: string): boolean {
  return t === MEDIA_TYPES.ociIndex || t === MEDIA_TYPES.dockerList;
}
