/**
 * The image service: pulls (reference → registry → content store → layer store), the image
 * store (records in the metadata store), lookups for containers, removal and GC.
 */
import type { Config } from "../core/config/mod.ts";
import {
  CancelledError,
  FailedPreconditionError,
  InvalidArgumentError,
  ResourceExhaustedError,
} from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Counter, Histogram, MetricsRegistry } from "../core/metrics.ts";
import { errorKind } from "../core/errors.ts";
import type { Store } from "../store/mod.ts";
import type {
  ImageForContainer,
  ImageProvider,
  ImageRuntimeConfig,
  ImageUsage,
} from "../runtime/contracts.ts";
import { type ContentStore, DigestMismatchError } from "./content.ts";
import { mapLimit, SharedFlights } from "./flights.ts";
import { chainIds, type LayerStore } from "./layers.ts";
import { parsePlatform, type Platform, selectPlatform } from "./platform.ts";
import { ProgressTracker } from "./progress.ts";
import {
  digestedName,
  formatReference,
  IMAGE_ID_HEX,
  type ImageReference,
  isDigest,
  parseReference,
  taggedName,
  tryParseReference,
} from "./reference.ts";
import { credentialsFromCri, type CriAuth } from "./registry/auth.ts";
import {
  BlobInterruptedError,
  type Endpoint,
  MEDIA_TYPES,
  RegistryClient,
} from "./registry/client.ts";

/** Downloads of a blob whose connection broke mid-way are retried this many times. */
const BLOB_RETRIES = 3;
const BLOB_RETRY_BACKOFF_MS = 250;

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

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform;
}

interface ManifestJson {
  schemaVersion?: number;
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
}

interface ConfigJson {
  os?: string;
  architecture?: string;
  variant?: string;
  config?: ImageRuntimeConfig;
  rootfs?: { type?: string; diff_ids?: string[] };
}

export interface PullOptions {
  auth?: CriAuth | null;
  signal?: AbortSignal;
}

export interface FsUsage {
  mountpoint: string;
  usedBytes: number;
  inodesUsed: number;
}

const dec = new TextDecoder();

/** Parses registry JSON; malformed content is the image's fault, not Skiff's. */
function parseJson<T>(bytes: Uint8Array, what: string): T {
  try {
    return JSON.parse(dec.decode(bytes)) as T;
  } catch (e) {
    throw new FailedPreconditionError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

function isIndexType(t: string): boolean {
  return t === MEDIA_TYPES.ociIndex || t === MEDIA_TYPES.dockerList;
}

export interface ImageServiceOptions {
  config: () => Config;
  store: Store;
  content: ContentStore;
  layers: LayerStore;
  log: Logger;
  /** Where image data lives, reported by ImageFsInfo. */
  dir: string;
  fetchImpl?: typeof fetch;
  /** Prometheus metrics (pulls, durations, bytes, store size); optional. */
  metrics?: MetricsRegistry;
}

interface ImageMetrics {
  pulls: Counter;
  pullSeconds: Histogram;
  bytes: Counter;
}

export class ImageService implements ImageProvider {
  private readonly records;
  private readonly byId = new Map<string, ImageRecord>();
  private readonly client: RegistryClient;
  private readonly flights = new SharedFlights();
  readonly progress: ProgressTracker;
  private usage?: ImageUsage;
  /** Blobs and layers that in-flight pulls need: GC leaves them alone. */
  private readonly busy = new Map<string, number>();
  /** Blob downloads started, by digest (tests and metrics: one download per blob). */
  readonly downloads = new Map<string, number>();

  private readonly metrics?: ImageMetrics;

  constructor(private readonly opts: ImageServiceOptions) {
    this.records = opts.store.collection<ImageRecord>("images");
    const m = opts.metrics;
    if (m) {
      this.metrics = {
        pulls: m.counter("skiff_image_pulls_total", "Image pulls by result (ok or error kind)"),
        pullSeconds: m.histogram("skiff_image_pull_duration_seconds", "Image pull duration"),
        bytes: m.counter("skiff_image_pull_bytes_total", "Compressed bytes downloaded by pulls"),
      };
      const images = m.gauge("skiff_images", "Images in the image store");
      images.onCollect(() => images.set({}, this.byId.size));
      const used = m.gauge("skiff_image_store_bytes", "Bytes used by blobs and unpacked layers");
      used.onCollect(() => used.set({}, this.fsUsage().usedBytes));
    }
    for (const r of this.records.list()) this.byId.set(r.id, r);
    this.client = new RegistryClient({
      config: opts.config,
      log: opts.log,
      fetchImpl: opts.fetchImpl,
    });
    this.progress = new ProgressTracker(opts.log);
  }

  get content(): ContentStore {
    return this.opts.content;
  }

  get layers(): LayerStore {
    return this.opts.layers;
  }

  /** The container service tells images which are in use (RemoveImage refuses those). */
  setImageUsage(usage: ImageUsage): void {
    this.usage = usage;
  }

  // -------------------------------------------------------------------------------------
  // Lookups

  list(): ImageRecord[] {
    return [...this.byId.values()].sort((a, b) => a.pulledAt - b.pulledAt);
  }

  /** Resolves a tag, digest reference, image ID or unique ID prefix. */
  resolve(input: string): ImageRecord | undefined {
    return this.resolveWithHow(input)?.record;
  }

  private resolveWithHow(
    input: string,
  ): { record: ImageRecord; by: "id" | "tag" | "digest"; name?: string } | undefined {
    const s = input.trim();
    if (s === "") return undefined;
    const hex = s.startsWith("sha256:") ? s.slice(7) : s;
    if (IMAGE_ID_HEX.test(hex)) {
      const r = this.byId.get(`sha256:${hex}`);
      if (r) return { record: r, by: "id" };
    }
    const ref = tryParseReference(s);
    if (ref) {
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
    }
    if (/^(sha256:)?[a-f0-9]{3,63}$/.test(s)) {
      const matches = [...this.byId.keys()].filter((id) => id.slice(7).startsWith(hex));
      if (matches.length === 1) return { record: this.byId.get(matches[0])!, by: "id" };
    }
    return undefined;
  }

  findImage(ref: string): ImageForContainer | undefined {
    const r = this.resolve(ref);
    if (!r) return undefined;
    return {
      id: r.id,
      repoTags: [...r.repoTags],
      repoDigests: [...r.repoDigests],
      config: r.config,
      layerDirs: r.layers.map((l) => this.opts.layers.dirFor(l.chainId)),
    };
  }

  isPinned(r: ImageRecord): boolean {
    for (const p of this.opts.config().image.pinned) {
      const hit = this.resolve(p);
      if (hit?.id === r.id) return true;
    }
    return false;
  }

  verboseInfo(r: ImageRecord): Record<string, string> {
    const read = (d: string) => {
      try {
        return JSON.parse(dec.decode(this.opts.content.read(d)));
      } catch {
        return null;
      }
    };
    return {
      info: JSON.stringify({
        id: r.id,
        manifestDigest: r.manifestDigest,
        manifestMediaType: r.manifestMediaType,
        manifest: read(r.manifestDigest),
        config: read(r.id),
        platform: r.platform,
        pulledAt: new Date(r.pulledAt).toISOString(),
        layers: r.layers.map((l) => ({
          ...l,
          dir: this.opts.layers.dirFor(l.chainId),
          unpacked: this.opts.layers.has(l.chainId),
        })),
        chainIds: r.layers.map((l) => l.chainId),
      }),
    };
  }

  // -------------------------------------------------------------------------------------
  // Pull

  /** Pulls an image and returns its ID. Concurrent pulls of one reference share the work. */
  async pull(input: string, opts: PullOptions = {}): Promise<string> {
    const ref = parseReference(input);
    const signal = opts.signal ?? new AbortController().signal;
    const creds = credentialsFromCri(opts.auth);
    const key = `pull:${formatReference(ref)}`;
    const started = performance.now();
    try {
      const id = await this.flights.run(key, signal, (s) => this.doPull(ref, creds, s));
      this.metrics?.pulls.inc({ result: "ok" });
      this.metrics?.pullSeconds.observe({}, (performance.now() - started) / 1000);
      return id;
    } catch (e) {
      // A full disk is the node's state, not a bug: RESOURCE_EXHAUSTED, saying where.
      const err = isNoSpace(e)
        ? new ResourceExhaustedError(
          `no space left on device under ${this.opts.dir} while pulling ${
            formatReference(ref)
          }; free space there (or move root_dir) and pull again (nothing of it was kept)`,
          { cause: e },
        )
        : e;
      this.metrics?.pulls.inc({ result: errorKind(err) });
      // A failed pull keeps nothing: what it stored that no image references goes now
      // (GC skips whatever other pulls in flight still need).
      if (!this.flights.has(key)) this.gc();
      throw err;
    }
  }

  private hold(keys: string[]): () => void {
    for (const k of keys) this.busy.set(k, (this.busy.get(k) ?? 0) + 1);
    return () => {
      for (const k of keys) {
        const n = (this.busy.get(k) ?? 1) - 1;
        if (n <= 0) this.busy.delete(k);
        else this.busy.set(k, n);
      }
    };
  }

  private async doPull(
    ref: ImageReference,
    creds: ReturnType<typeof credentialsFromCri>,
    signal: AbortSignal,
  ): Promise<string> {
    const log = this.opts.log;
    const name = formatReference(ref);
    const started = Date.now();
    const endpoints = this.client.endpoints(ref.domain, creds);
    const top = await this.client.getManifest(endpoints, ref.path, ref.digest ?? ref.tag!, signal);
    // Blobs come from the endpoint that served the manifest first, then the others.
    const eps: Endpoint[] = [top.endpoint, ...endpoints.filter((e) => e !== top.endpoint)];
    const manifestBlobs = [top.digest];
    let manifest = top;
    if (
      top.mediaType === MEDIA_TYPES.dockerSchema1 ||
      top.mediaType === MEDIA_TYPES.dockerSchema1Signed
    ) {
      throw new FailedPreconditionError(
        `${name} is a Docker schema 1 image, which Skiff does not support; push it again with a current client`,
      );
    }
    if (isIndexType(top.mediaType)) {
      const index = parseJson<ManifestJson>(top.bytes, `${name}: index ${top.digest}`);
      const want = parsePlatform(this.opts.config().image.platform);
      const chosen = selectPlatform(index.manifests ?? [], want, name);
      manifest = await this.client.getManifest(eps, ref.path, chosen.digest, signal);
      manifestBlobs.push(manifest.digest);
      if (isIndexType(manifest.mediaType)) {
        throw new FailedPreconditionError(`${name}: nested indexes are not supported`);
      }
    }
    const m = parseJson<ManifestJson>(manifest.bytes, `${name}: manifest ${manifest.digest}`);
    if (!m.config || !Array.isArray(m.layers) || !isDigest(m.config.digest)) {
      throw new FailedPreconditionError(
        `${name}: manifest ${manifest.digest} has no config or layers`,
      );
    }
    const configDesc = m.config;
    const release = this.hold([
      ...manifestBlobs,
      configDesc.digest,
      ...m.layers.map((l) => l.digest),
    ]);
    try {
      let configBytes: Uint8Array;
      if (this.opts.content.has(configDesc.digest)) {
        configBytes = this.opts.content.read(configDesc.digest);
      } else {
        this.countDownload(configDesc.digest);
        configBytes = await this.client.getBlobBytes(eps, ref.path, configDesc.digest, signal);
      }
      const config = parseJson<ConfigJson>(configBytes, `${name}: config ${configDesc.digest}`);
      const diffIds = config.rootfs?.diff_ids ?? [];
      if (diffIds.length !== m.layers.length) {
        throw new FailedPreconditionError(
          `${name}: the config lists ${diffIds.length} layers, the manifest ${m.layers.length}`,
        );
      }
      const chains = chainIds(diffIds);
      const layers: LayerDescriptor[] = m.layers.map((l, i) => {
        if (!isDigest(l.digest)) {
          throw new FailedPreconditionError(`${name}: bad layer digest ${l.digest}`);
        }
        return {
          digest: l.digest,
          mediaType: l.mediaType ?? "",
          size: l.size,
          diffId: diffIds[i],
          chainId: chains[i],
        };
      });
      const releaseLayers = this.hold(chains);
      const pullAbort = new AbortController();
      const pullSignal = AbortSignal.any([signal, pullAbort.signal]);
      const progress = this.progress.start(
        name,
        layers.map((l) => ({ digest: l.digest, total: l.size })),
      );
      try {
        await mapLimit(layers, this.opts.config().image.max_concurrent_downloads, async (l, i) => {
          try {
            await this.ensureLayer(eps, ref.path, l, pullSignal, (n) => progress.add(i, n));
            progress.done(i);
          } catch (e) {
            pullAbort.abort(e);
            throw e;
          }
        });
      } catch (e) {
        // Let the layer work this pull abandoned finish its clean-up before reporting, so a
        // failed pull leaves no temp files behind (work other pulls still wait for goes on).
        await Promise.all(
          layers
            .map((l) => `layer:${l.chainId}`)
            .filter((k) => this.flights.has(k) && this.flights.waiters(k) === 0)
            .map((k) => this.flights.settled(k)),
        );
        throw e;
      } finally {
        progress.finish();
        releaseLayers();
      }
      // Everything is in place: record manifests and the image.
      this.opts.content.put(configDesc.digest, configBytes);
      this.opts.content.put(top.digest, top.bytes);
      if (manifest !== top) this.opts.content.put(manifest.digest, manifest.bytes);
      const record: ImageRecord = {
        id: configDesc.digest,
        repoTags: [],
        repoDigests: [],
        manifestDigest: manifest.digest,
        manifestMediaType: manifest.mediaType,
        manifestBlobs,
        configSize: configBytes.length,
        layers,
        size: configBytes.length + layers.reduce((n, l) => n + l.size, 0),
        user: config.config?.User ?? "",
        config: config.config ?? {},
        platform: {
          os: config.os ?? "",
          architecture: config.architecture ?? "",
          ...(config.variant ? { variant: config.variant } : {}),
        },
        pulledAt: Date.now(),
      };
      this.saveImage(record, taggedName(ref), digestedName(ref, top.digest));
      log.info("image pulled", {
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

  private countDownload(digest: string): void {
    // Bounded: a long-running Skiff must not grow this forever.
    if (this.downloads.size >= 1000 && !this.downloads.has(digest)) {
      this.downloads.delete(this.downloads.keys().next().value!);
    }
    this.downloads.set(digest, (this.downloads.get(digest) ?? 0) + 1);
  }

  /** One unpack per chain ID, shared by every pull that needs it. */
  private async ensureLayer(
    eps: Endpoint[],
    repo: string,
    l: LayerDescriptor,
    signal: AbortSignal,
    onBytes: (n: number) => void,
  ): Promise<void> {
    if (this.opts.layers.has(l.chainId) && this.opts.content.has(l.digest)) return;
    await this.flights.run(`layer:${l.chainId}`, signal, async (s) => {
      if (this.opts.layers.has(l.chainId) && this.opts.content.has(l.digest)) return;
      if (this.opts.content.has(l.digest)) {
        if (!this.opts.layers.has(l.chainId)) {
          await this.opts.layers.unpack(
            l.chainId,
            l.diffId,
            l.digest,
            fileChunks(this.opts.content.path(l.digest)),
          );
        }
        return;
      }
      await this.downloadWithRetries(eps, repo, l, s, onBytes);
    });
  }

  /**
   * A download whose connection breaks mid-blob starts over (the partial blob and unpack
   * are removed by the failed attempt), a few times with backoff, as containerd and CRI-O
   * retry; then the last error stands.
   */
  private async downloadWithRetries(
    eps: Endpoint[],
    repo: string,
    l: LayerDescriptor,
    signal: AbortSignal,
    onBytes: (n: number) => void,
  ): Promise<void> {
    for (let attempt = 0;; attempt++) {
      let received = 0;
      const count = (n: number) => {
        received += n;
        onBytes(n);
      };
      try {
        return await this.downloadAndUnpack(eps, repo, l, signal, count);
      } catch (e) {
        if (!(e instanceof BlobInterruptedError) || attempt >= BLOB_RETRIES || signal.aborted) {
          if (e instanceof BlobInterruptedError) {
            throw new BlobInterruptedError(
              `${e.message}; gave up after ${attempt + 1} attempts`,
              { cause: e },
            );
          }
          throw e;
        }
        onBytes(-received); // progress counts this attempt's bytes again
        this.opts.log.warn("blob download interrupted; downloading it again", {
          digest: l.digest,
          attempt: attempt + 1,
          error: e.message,
        });
        await new Promise((r) => setTimeout(r, BLOB_RETRY_BACKOFF_MS * 2 ** attempt));
      }
    }
  }

  private async downloadAndUnpack(
    eps: Endpoint[],
    repo: string,
    l: LayerDescriptor,
    signal: AbortSignal,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const local = new AbortController();
    const s = AbortSignal.any([signal, local.signal]);
    this.countDownload(l.digest);
    const { body } = await this.client.openBlob(eps, repo, l.digest, s);
    const writer = this.opts.content.writer(l.digest, l.size);
    const metrics = this.metrics;
    async function* tap(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        writer.write(chunk);
        onBytes(chunk.length);
        metrics?.bytes.inc({}, chunk.length);
        yield chunk;
      }
    }
    const alreadyUnpacked = this.opts.layers.has(l.chainId);
    try {
      if (alreadyUnpacked) {
        for await (const _ of tap()) { /* only store the blob */ }
      } else {
        await this.opts.layers.unpack(l.chainId, l.diffId, l.digest, tap(), () => writer.verify());
      }
      writer.commit();
    } catch (e) {
      local.abort(e);
      writer.abort();
      if (!alreadyUnpacked && e instanceof DigestMismatchError) this.opts.layers.delete(l.chainId);
      if (signal.aborted && !(e instanceof CancelledError) && !(e instanceof DigestMismatchError)) {
        const reason = signal.reason;
        throw reason instanceof Error ? reason : new CancelledError(`pull cancelled`);
      }
      throw e;
    }
  }

  private saveImage(record: ImageRecord, tag: string | undefined, digestName: string): void {
    this.opts.store.transaction(() => {
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
          const moved = { ...other, repoTags: other.repoTags.filter((t) => t !== tag) };
          this.records.put(moved.id, moved);
          this.byId.set(moved.id, moved);
          this.opts.log.info("tag moved to a new image", { tag, from: other.id, to: record.id });
        }
      }
      this.records.put(merged.id, merged);
      this.byId.set(merged.id, merged);
    });
  }

  // -------------------------------------------------------------------------------------
  // Remove and GC

  /**
   * Removes by ID (the whole image) or by tag/digest (that name; the image goes when no
   * tag is left). Absent images are fine (idempotent). Refused while a container uses it.
   */
  remove(input: string): void {
    const hit = this.resolveWithHow(input);
    if (!hit) return;
    const r = hit.record;
    let next: ImageRecord | undefined;
    if (hit.by !== "id") {
      const remaining = {
        ...r,
        repoTags: r.repoTags.filter((t) => t !== hit.name),
        repoDigests: r.repoDigests.filter((d) => d !== hit.name),
      };
      if (remaining.repoTags.length > 0) next = remaining;
    }
    if (next) {
      this.records.put(next.id, next);
      this.byId.set(next.id, next);
      this.opts.log.info("image name removed", { name: hit.name, id: r.id });
      return;
    }
    const users = this.usage?.containersUsingImage(r.id) ?? [];
    if (users.length > 0) {
      throw new FailedPreconditionError(
        `image ${r.id} (${r.repoTags.join(", ") || "untagged"}) is in use by container(s) ${
          users.join(", ")
        }; remove them first`,
      );
    }
    this.records.delete(r.id);
    this.byId.delete(r.id);
    this.opts.log.info("image removed", { id: r.id, tags: r.repoTags });
    this.gc();
  }

  /** Removes blobs and layers no image references (and none an in-flight pull needs). */
  gc(): { blobs: number; layers: number } {
    const blobs = new Set<string>();
    const chains = new Set<string>();
    for (const r of this.byId.values()) {
      for (const d of r.manifestBlobs) blobs.add(d);
      blobs.add(r.id);
      for (const l of r.layers) {
        blobs.add(l.digest);
        chains.add(l.chainId);
      }
    }
    let nBlobs = 0;
    let nLayers = 0;
    for (const d of this.opts.content.list()) {
      if (!blobs.has(d) && !this.busy.has(d) && this.opts.content.delete(d)) nBlobs++;
    }
    for (const rec of this.opts.layers.list()) {
      if (
        !chains.has(rec.chainId) && !this.busy.has(rec.chainId) &&
        !this.flights.has(`layer:${rec.chainId}`)
      ) {
        this.opts.layers.delete(rec.chainId);
        nLayers++;
      }
    }
    const known = new Set(this.opts.layers.list().map((r) => r.chainId));
    for (const c of this.opts.layers.dirsOnDisk()) {
      if (!known.has(c) && !this.busy.has(c) && !this.flights.has(`layer:${c}`)) {
        this.opts.layers.delete(c);
        nLayers++;
      }
    }
    if (nBlobs || nLayers) this.opts.log.info("image gc", { blobs: nBlobs, layers: nLayers });
    return { blobs: nBlobs, layers: nLayers };
  }

  /** Start-up: drop what a killed Skiff left mid-pull, then collect garbage. */
  recover(): void {
    const ingest = this.opts.content.clearIngest();
    const tmp = this.opts.layers.clearTemp();
    if (ingest || tmp) {
      this.opts.log.info("removed leftovers of interrupted pulls", {
        downloads: ingest,
        unpacks: tmp,
      });
    }
    // Images whose layers vanished are not usable: drop them so kubelet pulls again.
    for (const r of [...this.byId.values()]) {
      if (!r.layers.every((l) => this.opts.layers.has(l.chainId))) {
        this.opts.log.warn("image has missing layers; forgetting it", {
          id: r.id,
          tags: r.repoTags,
        });
        this.records.delete(r.id);
        this.byId.delete(r.id);
      }
    }
    this.gc();
  }

  fsUsage(): FsUsage {
    let usedBytes = 0;
    let inodesUsed = 0;
    for (const d of this.opts.content.list()) {
      usedBytes += this.opts.content.size(d) ?? 0;
      inodesUsed++;
    }
    for (const l of this.opts.layers.list()) {
      usedBytes += l.size;
      inodesUsed += l.inodes;
    }
    return { mountpoint: this.opts.dir, usedBytes, inodesUsed };
  }
}

/** ENOSPC or EDQUOT from any file write of the pull (Deno sets node-style codes). */
function isNoSpace(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT";
}

async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const f = await Deno.open(path);
  try {
    const buf = new Uint8Array(256 * 1024);
    while (true) {
      const n = await f.read(buf);
      if (n === null) return;
      yield buf.slice(0, n);
    }
  } finally {
    f.close();
  }
}

export function ensureValidImageInput(s: string | undefined): string {
  if (!s) throw new InvalidArgumentError("image reference is required (ImageSpec.image is empty)");
  return s;
}
