/**
 * Content store: blobs (manifests, configs, compressed layers) by digest.
 *
 *   <dir>/blobs/sha256/<hex>      verified, complete blobs only
 *   <dir>/ingest/<hex>.<random>   in-flight downloads
 *
 * A blob is written to a temp file in ingest/, hashed and counted as it streams, fsynced,
 * and renamed into blobs/ only when digest and size match: a partial blob never appears
 * under its final name. Anything left in ingest/ after a crash is removed at start-up.
 */
import { createHash, type Hash } from "node:crypto";
import { FailedPreconditionError, InvalidArgumentError } from "../core/errors.ts";
import { isDigest } from "./reference.ts";

export class DigestMismatchError extends FailedPreconditionError {}

function hexOf(digest: string): string {
  if (!isDigest(digest) || !digest.startsWith("sha256:")) {
    throw new InvalidArgumentError(`unsupported digest ${JSON.stringify(digest)} (sha256 only)`);
  }
  return digest.slice(7);
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${sha256Hex(bytes)}`;
}

/** Writes one blob: `write` chunks, then `commit()` (verifies) or `abort()`. */
export class BlobWriter {
  private readonly hash: Hash = createHash("sha256");
  private written = 0;
  private done = false;
  private actual?: string;

  constructor(
    private readonly store: ContentStore,
    readonly digest: string,
    readonly expectedSize: number | undefined,
    private readonly tempPath: string,
    private readonly file: Deno.FsFile,
  ) {}

  get bytesWritten(): number {
    return this.written;
  }

  write(chunk: Uint8Array): void {
    this.written += chunk.length;
    if (this.expectedSize !== undefined && this.written > this.expectedSize) {
      throw new DigestMismatchError(
        `blob ${this.digest} is larger than the ${this.expectedSize} bytes its descriptor says`,
      );
    }
    this.hash.update(chunk);
    let off = 0;
    while (off < chunk.length) off += this.file.writeSync(chunk.subarray(off));
  }

  /** Checks size and digest of everything written (call once all bytes are in). */
  verify(): void {
    if (this.expectedSize !== undefined && this.written !== this.expectedSize) {
      throw new DigestMismatchError(
        `blob ${this.digest}: got ${this.written} bytes, its descriptor says ${this.expectedSize}`,
      );
    }
    this.actual ??= `sha256:${this.hash.digest("hex")}`;
    if (this.actual !== this.digest) {
      throw new DigestMismatchError(
        `blob ${this.digest} failed verification: its content hashes to ${this.actual} (corrupt or tampered download)`,
      );
    }
  }

  /**
   * Verifies, fsyncs and renames into place. Removes the temp file on failure. The fsync is
   * off the event loop: flushing a large blob can take seconds, and every call would wait.
   */
  async commit(): Promise<void> {
    if (this.done) return;
    try {
      this.verify();
      this.done = true;
      await this.file.sync();
      this.file.close();
      Deno.renameSync(this.tempPath, this.store.path(this.digest));
    } catch (e) {
      this.done = true;
      this.cleanup();
      throw e;
    }
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
  }

  private cleanup(): void {
    try {
      this.file.close();
    } catch {
      // already closed
    }
    try {
      Deno.removeSync(this.tempPath);
    } catch {
      // already gone
    }
  }
}

export class ContentStore {
  readonly blobsDir: string;
  readonly ingestDir: string;

  constructor(readonly dir: string) {
    this.blobsDir = `${dir}/blobs/sha256`;
    this.ingestDir = `${dir}/ingest`;
    Deno.mkdirSync(this.blobsDir, { recursive: true, mode: 0o700 });
    Deno.mkdirSync(this.ingestDir, { recursive: true, mode: 0o700 });
  }

  path(digest: string): string {
    return `${this.blobsDir}/${hexOf(digest)}`;
  }

  has(digest: string): boolean {
    try {
      return Deno.statSync(this.path(digest)).isFile;
    } catch {
      return false;
    }
  }

  size(digest: string): number | undefined {
    try {
      return Deno.statSync(this.path(digest)).size;
    } catch {
      return undefined;
    }
  }

  read(digest: string): Uint8Array {
    return Deno.readFileSync(this.path(digest));
  }

  writer(digest: string, expectedSize?: number): BlobWriter {
    const temp = `${this.ingestDir}/${hexOf(digest)}.${crypto.randomUUID().slice(0, 8)}`;
    const file = Deno.openSync(temp, { write: true, createNew: true, mode: 0o600 });
    return new BlobWriter(this, digest, expectedSize, temp, file);
  }

  /** Stores bytes already in memory (manifests, configs) after verifying them. */
  async put(digest: string, bytes: Uint8Array): Promise<void> {
    if (this.has(digest)) return;
    const w = this.writer(digest, bytes.length);
    try {
      w.write(bytes);
    } catch (e) {
      w.abort();
      throw e;
    }
    await w.commit();
  }

  delete(digest: string): boolean {
    try {
      Deno.removeSync(this.path(digest));
      return true;
    } catch {
      return false;
    }
  }

  /** Every stored digest. */
  list(): string[] {
    const out: string[] = [];
    for (const e of Deno.readDirSync(this.blobsDir)) {
      if (e.isFile && /^[a-f0-9]{64}$/.test(e.name)) out.push(`sha256:${e.name}`);
    }
    return out;
  }

  /** Removes every in-flight download (call only when none is running: at start-up). */
  clearIngest(): number {
    let n = 0;
    for (const e of Deno.readDirSync(this.ingestDir)) {
      Deno.removeSync(`${this.ingestDir}/${e.name}`, { recursive: true });
      n++;
    }
    return n;
  }

  /** Number of temp files in ingest/ (tests check cancelled pulls leave none). */
  ingestCount(): number {
    return [...Deno.readDirSync(this.ingestDir)].length;
  }
}
