/**
 * The image service: pulls (pull/: reference → registry → content store → layer store),
 * the image store (image_store.ts), lookups for containers, removal and GC (gc.ts).
 */
import type { Config } from "../core/config/mod.ts";
import {
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  ResourceExhaustedError,
  SkiffError,
} from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Store } from "../store/mod.ts";
import type { ImageForContainer, ImageProvider, ImageUsage } from "../runtime/contracts.ts";
import type { ContentStore } from "./content.ts";
import { SharedFlights } from "./flights.ts";
import { collectGarbage } from "./gc.ts";
import { type ImageRecord, ImageStore } from "./image_store.ts";
import type { LayerStore } from "./layers.ts";
import { ImageMetrics } from "./metrics.ts";
import { ProgressTracker } from "./progress.ts";
import type { PullContext } from "./pull/mod.ts";
import { formatReference, type ImageReference, parseReference } from "./reference.ts";
import type { CriAuth } from "./registry/auth.ts";

export type { ImageRecord, LayerDescriptor } from "./image_store.ts";

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
  /** Which containers use an image (the container service): RemoveImage refuses those. */
  usage?: ImageUsage;
}

/** The pull code and what it works with (ImageService.puller). */
interface Pipeline {
  pullImage: typeof import("./pull/mod.ts").pullImage;
  credentialsFromCri: typeof import("./registry/auth.ts").credentialsFromCri;
  context: PullContext;
}

export class ImageService implements ImageProvider {
  private readonly images: ImageStore;
  private readonly flights = new SharedFlights();
  readonly progress: ProgressTracker;
  /** Blobs and layers that in-flight pulls need: GC leaves them alone. */
  private readonly busy = new Map<string, number>();
  /** Blob downloads started, by digest (tests and metrics: one download per blob). */
  readonly downloads = new Map<string, number>();
  private readonly metrics?: ImageMetrics;
  /** The pull pipeline and registry client, loaded at the first pull (puller()). */
  private pipeline?: Promise<Pipeline>;

  constructor(private readonly opts: ImageServiceOptions) {
    this.images = new ImageStore(opts.store, opts.log);
    if (opts.metrics) {
      this.metrics = new ImageMetrics(opts.metrics, {
        images: () => this.images.size,
        storeBytes: () => this.fsUsage().usedBytes,
      });
    }
    this.progress = new ProgressTracker(opts.log);
  }

  /**
   * The pull code (manifests, registry client and auth, layer fetching): loaded at the
   * first pull, so a node that has its images holds none of it.
   */
  private puller(): Promise<Pipeline> {
    this.pipeline ??= Promise.all([
      import("./pull/mod.ts"),
      import("./registry/auth.ts"),
      import("./registry/client.ts"),
    ]).then(([pull, auth, registry]) => ({
      pullImage: pull.pullImage,
      credentialsFromCri: auth.credentialsFromCri,
      context: this.pullContext(
        new registry.RegistryClient({
          config: this.opts.config,
          log: this.opts.log,
          fetchImpl: this.opts.fetchImpl,
        }),
      ),
    }));
    return this.pipeline;
  }

  private pullContext(client: PullContext["client"]): PullContext {
    const opts = this.opts;
    return {
      client,
      content: opts.content,
      layers: opts.layers,
      flights: this.flights,
      progress: this.progress,
      config: opts.config,
      log: opts.log,
      hold: (keys) => this.hold(keys),
      downloadStarted: (digest) => this.countDownload(digest),
      bytesFetched: (n) => this.metrics?.bytesFetched(n),
    };
  }

  get content(): ContentStore {
    return this.opts.content;
  }

  get layers(): LayerStore {
    return this.opts.layers;
  }

  // -------------------------------------------------------------------------------------
  // Lookups

  list(): ImageRecord[] {
    return this.images.list();
  }

  /** Resolves a tag, digest reference, image ID or unique ID prefix. */
  resolve(input: string): ImageRecord | undefined {
    return this.images.resolve(input)?.record;
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
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const id = await this.pullShared(parseReference(input), opts);
      this.metrics?.pullSucceeded(seconds(), this.resolve(id)?.size ?? 0);
      return id;
    } catch (e) {
      this.metrics?.pullFailed(e, seconds());
      throw this.withoutStatePaths(e);
    }
  }

  /**
   * The last guard of the pull path: a message a client sees never names where Skiff keeps
   * its state (a filesystem error names its path). The original stays as the cause, for logs.
   */
  private withoutStatePaths(e: unknown): unknown {
    if (!(e instanceof Error)) return e;
    const c = this.opts.config();
    const paths = [this.opts.dir, c.root_dir, c.state_dir].filter((p) => p.length > 1);
    if (!paths.some((p) => e.message.includes(p))) return e;
    let message = e.message;
    for (const p of paths) message = message.replaceAll(p, "<skiff>");
    if (e instanceof SkiffError) {
      const Kind = e.constructor as new (m: string, o?: ErrorOptions) => SkiffError;
      return new Kind(message, { cause: e });
    }
    return new InternalError(message, { cause: e });
  }

  private async pullShared(ref: ImageReference, opts: PullOptions): Promise<string> {
    const signal = opts.signal ?? new AbortController().signal;
    const { pullImage, credentialsFromCri, context } = await this.puller();
    const creds = credentialsFromCri(opts.auth);
    const key = `pull:${formatReference(ref)}`;
    try {
      return await this.flights.run(
        key,
        signal,
        (s) => pullImage(context, ref, creds, s, (r, tag, dn) => this.images.save(r, tag, dn)),
      );
    } catch (e) {
      // A failed pull keeps nothing: what it stored that no image references goes now
      // (GC skips whatever other pulls in flight still need).
      if (!this.flights.has(key)) this.gc();
      throw this.noSpaceExplained(e, ref);
    }
  }

  /** A full disk is the node's state, not a bug: RESOURCE_EXHAUSTED, saying where. */
  private noSpaceExplained(e: unknown, ref: ImageReference): unknown {
    if (!isNoSpace(e)) return e;
    return new ResourceExhaustedError(
      // The node's operator knows where root_dir is; a client is not told (no host paths).
      `no space left on device in the image store (root_dir) while pulling ${
        formatReference(ref)
      }; free space there and pull again (nothing of it was kept)`,
      { cause: e },
    );
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

  private countDownload(digest: string): void {
    // Bounded: a long-running Skiff must not grow this forever.
    if (this.downloads.size >= 1000 && !this.downloads.has(digest)) {
      this.downloads.delete(this.downloads.keys().next().value!);
    }
    this.downloads.set(digest, (this.downloads.get(digest) ?? 0) + 1);
  }

  // -------------------------------------------------------------------------------------
  // Remove and GC

  /**
   * Removes by ID (the whole image) or by tag/digest (that name; the image goes when no
   * tag is left). Absent images are fine (idempotent). Refused while a container uses it.
   */
  remove(input: string): void {
    const hit = this.images.resolve(input);
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
      this.images.put(next);
      this.opts.log.info("image name removed", { name: hit.name, id: r.id });
      return;
    }
    const users = this.opts.usage?.containersUsingImage(r.id) ?? [];
    if (users.length > 0) {
      throw new FailedPreconditionError(
        `image ${r.id} (${r.repoTags.join(", ") || "untagged"}) is in use by container(s) ${
          users.join(", ")
        }; remove them first`,
      );
    }
    this.images.delete(r.id);
    this.opts.log.info("image removed", { id: r.id, tags: r.repoTags });
    this.gc();
  }

  /** Removes blobs and layers no image references (and none an in-flight pull needs). */
  gc(): { blobs: number; layers: number } {
    return collectGarbage({
      images: this.images,
      content: this.opts.content,
      layers: this.opts.layers,
      held: (key) => this.busy.has(key),
      unpacking: (chainId) => this.flights.has(`layer:${chainId}`),
      log: this.opts.log,
    });
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
    for (const r of [...this.images.values()]) {
      if (!r.layers.every((l) => this.opts.layers.has(l.chainId))) {
        this.opts.log.warn("image has missing layers; forgetting it", {
          id: r.id,
          tags: r.repoTags,
        });
        this.images.delete(r.id);
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

export function ensureValidImageInput(s: string | undefined): string {
  if (!s) throw new InvalidArgumentError("image reference is required (ImageSpec.image is empty)");
  return s;
}
