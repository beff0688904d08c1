/**
 * The image store: image records (collection `images` in the metadata store), kept in
 * memory by ID, and name resolution (tag, digest reference, ID, unique ID prefix).
 */
import type { Logger } from "../core/log.ts";
import type { Collection, Store } from "../store/mod.ts";
import type { ImageRuntimeConfig } from "../runtime/contracts.ts";
import type { Platform } from "./platform.ts";
import { digestedName, IMAGE_ID_HEX, taggedName, tryParseReference } from "./reference.ts";

export interface LayerDescriptor {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
  chainId: string;
}

export interface ImageRecord {
  /** Config digest. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  /** The platform manifest's digest. */
  manifestDigest: string;
  manifestMediaType: string;
  /** Manifest and index digests this image keeps in the content store. */
  manifestBlobs: string[];
  configSize: number;
  layers: LayerDescriptor[];
  /** Compressed size: config + layers, as registries and kubelet count it. */
  size: number;
  user: string;
  config: ImageRuntimeConfig;
  platform: Platform;
  pulledAt: number;
}

/** How an input named an image: the name is the tag or digest reference it matched. */
export interface ResolvedImage {
  record: ImageRecord;
  by: "id" | "tag" | "digest";
  name?: string;
}

export class ImageStore {
  private readonly records: Collection<ImageRecord>;
  private readonly byId = new Map<string, ImageRecord>();

  constructor(private readonly store: Store, private readonly log: Logger) {
    this.records = store.collection<ImageRecord>("images");
    for (const r of this.records.list()) this.byId.set(r.id, r);
  }

  get size(): number {
    return this.byId.size;
  }

  /** Oldest pull first. */
  list(): ImageRecord[] {
    return [...this.byId.values()].sort((a, b) => a.pulledAt - b.pulledAt);
  }

  values(): IterableIterator<ImageRecord> {
    return this.byId.values();
  }

  put(record: ImageRecord): void {
    this.records.put(record.id, record);
    this.byId.set(record.id, record);
  }

  delete(id: string): void {
    this.records.delete(id);
    this.byId.delete(id);
  }

  /** Resolves a tag, digest reference, image ID or unique ID prefix. */
  resolve(input: string): ResolvedImage | undefined {
    const s = input.trim();
    if (s === "") return undefined;
    const hex = s.startsWith("sha256:") ? s.slice(7) : s;
    if (IMAGE_ID_HEX.test(hex)) {
      const r = this.byId.get(`sha256:${hex}`);
      if (r) return { record: r, by: "id" };
    }
    const byName = this.resolveName(s);
    if (byName) return byName;
    if (/^(sha256:)?[a-f0-9]{3,63}$/.test(s)) {
      const matches = [...this.byId.keys()].filter((id) => id.slice(7).startsWith(hex));
      if (matches.length === 1) return { record: this.byId.get(matches[0])!, by: "id" };
    }
    return undefined;
  }

  private resolveName(s: string): ResolvedImage | undefined {
    const ref = tryParseReference(s);
    if (!ref) return undefined;
    if (ref.digest) {
      const name = digestedName(ref, ref.digest);
      for (const r of this.byId.values()) {
        if (r.repoDigests.includes(name)) return { record: r, by: "digest", name };
      }
    } else {
      const name = taggedName(ref)!;
      for (const r of this.byId.values()) {
        if (r.repoTags.includes(name)) return { record: r, by: "tag", name };
      }
    }
    return undefined;
  }

  /**
   * Records a pulled image under its tag and digest name, merging with an existing record
   * of the same ID; the tag moves away from any other image.
   */
  save(record: ImageRecord, tag: string | undefined, digestName: string): void {
    this.store.transaction(() => {
      const existing = this.byId.get(record.id);
      const merged: ImageRecord = existing
        ? {
          ...record,
          repoTags: [...existing.repoTags],
          repoDigests: [...existing.repoDigests],
          manifestBlobs: [...new Set([...existing.manifestBlobs, ...record.manifestBlobs])],
          pulledAt: existing.pulledAt,
        }
        : record;
      if (tag && !merged.repoTags.includes(tag)) merged.repoTags.push(tag);
      if (!merged.repoDigests.includes(digestName)) merged.repoDigests.push(digestName);
      // A tag names one image: re-point it away from any other.
      if (tag) {
        for (const other of this.byId.values()) {
          if (other.id === record.id || !other.repoTags.includes(tag)) continue;
          this.put({ ...other, repoTags: other.repoTags.filter((t) => t !== tag) });
          this.log.info("tag moved to a new image", { tag, from: other.id, to: record.id });
        }
      }
      this.put(merged);
    });
  }
}
