/**
 * Layer store: each layer unpacked once, by chain ID, into a directory that serves as an
 * overlay lowerdir.
 *
 *   <dir>/sha256/<chain-id hex>/   an unpacked layer (complete: it got there by rename)
 *   <dir>/tmp/<random>/            an unpack in progress (removed on failure / at start-up)
 *
 * Records (size, inodes, diff ID) live in the metadata store's `image_layers` collection;
 * a directory without a record, or a record without a directory, is garbage.
 */
import { once } from "node:events";
import zlib from "node:zlib";
import { createHash } from "node:crypto";
import { FailedPreconditionError, InvalidArgumentError } from "../core/errors.ts";
import type { Collection } from "../store/mod.ts";
import {
  LayerApplier,
  LayerPathTooLongError,
  quotePath,
  UnsafeLayerError,
} from "./unpack/applier.ts";
import { TarFormatError, TarReader } from "./unpack/tar.ts";
import { loopSlices as slices } from "../core/work_slices.ts";
import { SyscallError } from "../linux/fs_syscalls.ts";

export interface LayerRecord {
  chainId: string;
  diffId: string;
  /** Digest of the compressed blob it came from. */
  blobDigest: string;
  /** Sum of regular file sizes. */
  size: number;
  inodes: number;
  createdAt: number;
}

/** A layer that cannot be applied safely or is corrupt; the pull fails with this. */
export class LayerRejectedError extends FailedPreconditionError {}

/** sha256 of `parentChainId + " " + diffId`, as the OCI image spec defines chain IDs. */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    if (out.length === 0) out.push(d);
    else {
      out.push(
        `sha256:${createHash("sha256").update(`${out[out.length - 1]} ${d}`).digest("hex")}`,
      );
    }
  }
  return out;
}

type Compression = "gzip" | "zstd" | "none";

function sniff(b: Uint8Array): Compression {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return "gzip";
  if (b.length >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) {
    return "zstd";
  }
  return "none";
}

/**
 * Decompresses a gzip, zstd or plain stream (detected from its first bytes, since media types
 * are not always honest). Stops reading `source` when the consumer stops.
 */
export async function* decompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const kind = sniff(first.value);
  if (kind === "none") {
    yield first.value;
    while (true) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  }
  const z = kind === "gzip" ? zlib.createGunzip() : zlib.createZstdDecompress();
  let stopped = false;
  const feeding = (async () => {
    try {
      if (!z.write(first.value)) await once(z, "drain");
      while (!stopped) {
        const n = await it.next();
        if (n.done) break;
        if (!z.write(n.value)) await once(z, "drain");
      }
      z.end();
    } catch (e) {
      z.destroy(e instanceof Error ? e : new Error(String(e)));
    }
  })();
  try {
    for await (const out of z) yield out as Uint8Array;
    await feeding;
  } finally {
    stopped = true;
    z.destroy();
    feeding.catch(() => {});
  }
}

export class LayerStore {
  readonly layersDir: string;
  readonly tmpDir: string;
  /** Deleted layers' directories, until their removal (in the background) is done. */
  readonly trashDir: string;
  private readonly removals = new Set<Promise<void>>();

  constructor(readonly dir: string, private readonly records: Collection<LayerRecord>) {
    this.layersDir = `${dir}/sha256`;
    this.tmpDir = `${dir}/tmp`;
    this.trashDir = `${dir}/trash`;
    Deno.mkdirSync(this.layersDir, { recursive: true, mode: 0o711 });
    Deno.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(this.trashDir, { recursive: true, mode: 0o700 });
  }

  dirFor(chainId: string): string {
    // A chain ID becomes a path (and is removed recursively on failure): sha256 only.
    if (!/^sha256:[a-f0-9]{64}$/.test(chainId)) {
      throw new FailedPreconditionError(`${quotePath(chainId)} is not a sha256 chain ID`);
    }
    return `${this.layersDir}/${chainId.slice(7)}`;
  }

  get(chainId: string): LayerRecord | undefined {
    return this.records.get(chainId);
  }

  has(chainId: string): boolean {
    if (!this.records.get(chainId)) return false;
    try {
      return Deno.statSync(this.dirFor(chainId)).isDirectory;
    } catch {
      return false;
    }
  }

  list(): LayerRecord[] {
    return this.records.list();
  }

  /**
   * Unpacks a (compressed) layer stream into the store under `chainId`, verifying the
   * uncompressed content against `diffId`. On any failure the partial directory is removed.
   */
  async unpack(
    chainId: string,
    diffId: string,
    blobDigest: string,
    source: AsyncIterable<Uint8Array>,
    /** Runs after the content checks, before the layer is renamed into place. */
    beforeCommit?: () => void,
  ): Promise<LayerRecord> {
    // Space freed by deleting layers (kubelet's image GC) is there before this one fills it.
    await this.removed();
    const tmp = Deno.makeTempDirSync({ dir: this.tmpDir, prefix: "unpack-" });
    Deno.chmodSync(tmp, 0o755);
    const applier = new LayerApplier(tmp);
    const reader = new TarReader(applier);
    const hash = createHash("sha256");
    try {
      // In slices: the applier's file operations are synchronous (core/work_slices.ts).
      try {
        for await (const chunk of decompress(source)) {
          hash.update(chunk);
          for (let off = 0; off < chunk.length;) {
            off += reader.push(chunk.subarray(off), slices.deadline);
            await slices.yieldIfDue();
          }
        }
        reader.finish();
        while (!applier.restoreDirTimes(slices.deadline)) await slices.yield();
      } catch (e) {
        throw explainApplyError(e, blobDigest, tmp, applier.current);
      }
      const stats = applier.finish();
      const actual = `sha256:${hash.digest("hex")}`;
      if (actual !== diffId) {
        throw new LayerRejectedError(
          `layer ${blobDigest}: uncompressed content hashes to ${actual}, the image config says ${diffId}`,
        );
      }
      beforeCommit?.();
      const record: LayerRecord = {
        chainId,
        diffId,
        blobDigest,
        size: stats.bytes,
        inodes: stats.inodes,
        createdAt: Date.now(),
      };
      const final = this.dirFor(chainId);
      try {
        Deno.renameSync(tmp, final);
      } catch (e) {
        // Already there (a racing unpack finished first): keep that one.
        if (!(e instanceof Deno.errors.AlreadyExists) && !isNotEmpty(e)) throw e;
        await Deno.remove(tmp, { recursive: true });
      }
      this.records.put(chainId, record);
      return record;
    } catch (e) {
      applier.closeOpenFile();
      // Off the event loop: a partial layer may hold thousands of files.
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw e;
    }
  }

  /**
   * Forgets a layer and removes its directory: renamed into trash/ at once, deleted in the
   * background (thousands of files take seconds on a slow disk, and every CRI call would
   * wait). Unpacks wait for those deletions; one that fails stays in trash/ for start-up.
   */
  delete(chainId: string): void {
    this.records.delete(chainId);
    const trash = `${this.trashDir}/${crypto.randomUUID()}`;
    try {
      Deno.renameSync(this.dirFor(chainId), trash);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    const removal: Promise<void> = Deno.remove(trash, { recursive: true })
      .catch(() => {})
      .finally(() => this.removals.delete(removal));
    this.removals.add(removal);
  }

  /** Resolves once the deletions started so far are done (or failed). */
  async removed(): Promise<void> {
    while (this.removals.size > 0) await Promise.all(this.removals);
  }

  /** Chain IDs of directories on disk. */
  dirsOnDisk(): string[] {
    const out: string[] = [];
    for (const e of Deno.readDirSync(this.layersDir)) {
      if (e.isDirectory && /^[a-f0-9]{64}$/.test(e.name)) out.push(`sha256:${e.name}`);
    }
    return out;
  }

  /**
   * Removes unfinished unpacks, and deleted layers a stopped Skiff had not finished removing
   * (call only when none runs: at start-up). Returns the unpacks.
   */
  clearTemp(): number {
    for (const e of Deno.readDirSync(this.trashDir)) {
      Deno.removeSync(`${this.trashDir}/${e.name}`, { recursive: true });
    }
    let n = 0;
    for (const e of Deno.readDirSync(this.tmpDir)) {
      Deno.removeSync(`${this.tmpDir}/${e.name}`, { recursive: true });
      n++;
    }
    return n;
  }

  tempCount(): number {
    return [...Deno.readDirSync(this.tmpDir)].length;
  }
}

/**
 * Why a layer could not be applied, for the client: the layer digest and the entry, never
 * the host path of the unpack directory (filesystem errors name it). A full disk is passed
 * on as it is (the service reports it as RESOURCE_EXHAUSTED).
 */
function explainApplyError(e: unknown, blobDigest: string, tmp: string, entry: string): unknown {
  const scrub = (m: string) => m.replaceAll(`${tmp}/`, "").replaceAll(tmp, "/");
  const code = (e as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return e;
  const at = entry ? `, entry ${quotePath(entry)}` : "";
  if (e instanceof LayerPathTooLongError) {
    return new InvalidArgumentError(`layer ${blobDigest} rejected: ${e.message}`, { cause: e });
  }
  if (e instanceof UnsafeLayerError || e instanceof TarFormatError) {
    return new LayerRejectedError(`layer ${blobDigest} rejected: ${e.message}`, { cause: e });
  }
  const nameTooLong = code === "ENAMETOOLONG" ||
    (e instanceof SyscallError && e.errno === ENAMETOOLONG);
  if (nameTooLong) {
    return new InvalidArgumentError(
      `layer ${blobDigest} rejected${at}: the path is too long for Linux`,
      { cause: e },
    );
  }
  if (e instanceof SyscallError || (e instanceof Error && typeof code === "string")) {
    return new LayerRejectedError(
      `layer ${blobDigest} could not be applied${at}: ${scrub(e.message)}`,
      { cause: e },
    );
  }
  if (e instanceof Error && /zlib|gzip|zstd|header check|unexpected end/i.test(e.message)) {
    return new LayerRejectedError(`layer ${blobDigest} is corrupt: ${scrub(e.message)}`, {
      cause: e,
    });
  }
  return e;
}

const ENAMETOOLONG = 36;

function isNotEmpty(e: unknown): boolean {
  return e instanceof Error && /not empty|ENOTEMPTY|exists/i.test(e.message);
}
