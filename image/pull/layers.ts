/**
 * Pull step 3: the layers, fetched in parallel (image.max_concurrent_downloads) and each
 * unpacked once per chain ID, shared by every pull that needs it. A download whose
 * connection breaks mid-blob starts over a few times.
 */
import { CancelledError, DeadlineExceededError, NotFoundError } from "../../core/errors.ts";
import { isNonDistributable } from "./limits.ts";
import { DigestMismatchError } from "../content.ts";
import { mapLimit } from "../flights.ts";
import type { LayerDescriptor } from "../image_store.ts";
import { BlobInterruptedError } from "../registry/client.ts";
import { linkedAbort } from "../abort.ts";
import type { BlobSource, PullContext } from "./context.ts";

/** Downloads of a blob whose connection broke mid-way are retried this many times. */
const BLOB_RETRIES = 3;
const BLOB_RETRY_BACKOFF_MS = 250;

type OnBytes = (n: number) => void;

/** Makes every layer present (blob stored, layer unpacked), reporting progress. */
export async function fetchLayers(
  ctx: PullContext,
  source: BlobSource,
  name: string,
  layers: LayerDescriptor[],
): Promise<void> {
  // The first failed layer stops the others (held strongly: see abort.ts).
  const linked = linkedAbort(source.signal);
  const pullAbort = linked.controller;
  const layerSource = { ...source, signal: linked.signal };
  const progress = ctx.progress.start(
    name,
    layers.map((l) => ({ digest: l.digest, total: l.size })),
  );
  try {
    await mapLimit(layers, ctx.config().image.max_concurrent_downloads, async (l, i) => {
      try {
        await ensureLayer(ctx, layerSource, l, (n) => progress.add(i, n));
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
        .filter((k) => ctx.flights.has(k) && ctx.flights.waiters(k) === 0)
        .map((k) => ctx.flights.settled(k)),
    );
    throw e;
  } finally {
    linked.dispose();
    progress.finish();
  }
}

/** One unpack per chain ID, shared by every pull that needs it. */
async function ensureLayer(
  ctx: PullContext,
  source: BlobSource,
  l: LayerDescriptor,
  onBytes: OnBytes,
): Promise<void> {
  const present = () => ctx.layers.has(l.chainId) && ctx.content.has(l.digest);
  if (present()) return;
  await ctx.flights.run(`layer:${l.chainId}`, source.signal, async (s) => {
    if (present()) return;
    if (ctx.content.has(l.digest)) {
      // The blob is stored but its layer is not unpacked: unpack from the store.
      await ctx.layers.unpack(
        l.chainId,
        l.diffId,
        l.digest,
        fileChunks(ctx.content.path(l.digest)),
      );
      return;
    }
    await downloadWithRetries(ctx, { ...source, signal: s }, l, onBytes);
  });
}

/**
 * A download whose connection breaks mid-blob starts over (the partial blob and unpack
 * are removed by the failed attempt), a few times with backoff, as containerd and CRI-O
 * retry; then the last error stands.
 */
async function downloadWithRetries(
  ctx: PullContext,
  source: BlobSource,
  l: LayerDescriptor,
  onBytes: OnBytes,
): Promise<void> {
  // The no-progress clock runs across attempts: a registry that drops every connection
  // before sending a byte must not get a fresh clock per retry.
  const timeoutMs = ctx.config().image.progress_timeout_seconds * 1000;
  let lastByteAt = Date.now();
  for (let attempt = 0;; attempt++) {
    let received = 0;
    const count = (n: number) => {
      received += n;
      lastByteAt = Date.now();
      onBytes(n);
    };
    try {
      return await downloadAndUnpack(ctx, source, l, count);
    } catch (e) {
      if (
        !(e instanceof BlobInterruptedError) || attempt >= BLOB_RETRIES || source.signal.aborted
      ) {
        if (e instanceof BlobInterruptedError) {
          throw new BlobInterruptedError(
            `${e.message}; gave up after ${attempt + 1} attempts`,
            { cause: e },
          );
        }
        throw e;
      }
      if (Date.now() - lastByteAt >= timeoutMs) {
        throw new DeadlineExceededError(
          `${e.message}; no byte of it arrived for ${timeoutMs / 1000} s ` +
            `(image.progress_timeout_seconds), so Skiff gave up`,
          { cause: e },
        );
      }
      onBytes(-received); // progress counts this attempt's bytes again
      ctx.log.warn("blob download interrupted; downloading it again", {
        digest: l.digest,
        attempt: attempt + 1,
        error: e.message,
      });
      await sleep(BLOB_RETRY_BACKOFF_MS * 2 ** attempt, source.signal);
    }
  }
}

/** Streams the blob into the content store and, unless already unpacked, into the layer. */
async function downloadAndUnpack(
  ctx: PullContext,
  source: BlobSource,
  l: LayerDescriptor,
  onBytes: OnBytes,
): Promise<void> {
  const { signal } = source;
  const linked = linkedAbort(signal);
  const local = linked.controller;
  const s = linked.signal;
  ctx.downloadStarted(l.digest);
  let body: AsyncIterable<Uint8Array>;
  try {
    ({ body } = await ctx.client.openBlob(source.endpoints, source.repo, l.digest, s));
  } catch (e) {
    linked.dispose();
    if (e instanceof NotFoundError && isNonDistributable(l.mediaType)) {
      throw new NotFoundError(
        `${e.message}; it is a non-distributable layer, and Skiff fetches layers only from ` +
          `the image's registry (never from the URLs its descriptor lists)`,
        { cause: e },
      );
    }
    throw e;
  }
  const writer = ctx.content.writer(l.digest, l.size);
  async function* tap(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      writer.write(chunk);
      onBytes(chunk.length);
      ctx.bytesFetched(chunk.length);
      yield chunk;
    }
  }
  const alreadyUnpacked = ctx.layers.has(l.chainId);
  try {
    if (alreadyUnpacked) {
      for await (const _ of tap()) { /* only store the blob */ }
    } else {
      await ctx.layers.unpack(l.chainId, l.diffId, l.digest, tap(), () => writer.verify());
    }
    await writer.commit();
  } catch (e) {
    local.abort(e);
    writer.abort();
    if (!alreadyUnpacked && e instanceof DigestMismatchError) ctx.layers.delete(l.chainId);
    if (signal.aborted && !(e instanceof CancelledError) && !(e instanceof DigestMismatchError)) {
      const reason = signal.reason;
      throw reason instanceof Error ? reason : new CancelledError(`pull cancelled`);
    }
    throw e;
  } finally {
    linked.dispose();
  }
}

/** Waits `ms`, or until `signal` aborts (then throws why). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
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
