/**
 * A hostile registry for the hardening tests: a `Deno.serve` on 127.0.0.1 that speaks just
 * enough of the registry v2 API (`/v2/`, manifests by tag or digest, blobs by digest) to
 * serve what a test puts in it — including blobs that stall after a few bytes, never end,
 * or are larger than their descriptor says.
 *
 * ```ts
 * const reg = HostileRegistry.start();
 * reg.putImage("evil/stall", "1", built);              // a BuiltImage from oci_build.ts
 * reg.blobs.set(built.layers[0].digest, { bytes: built.layers[0].bytes, stallAfter: 1 });
 * // pull `${reg.host}/evil/stall:1`; reg.openStreams counts blob bodies still open
 * await reg.close();
 * ```
 */
import type { Blob, BuiltImage } from "../helpers/oci_build.ts";

export interface HostileBlob {
  bytes: Uint8Array;
  /** Send this many bytes, then nothing (the connection stays open). */
  stallAfter?: number;
  /** After `bytes`, keep sending filler forever. */
  endless?: boolean;
}

export class HostileRegistry {
  readonly port: number;
  readonly host: string;
  /** Manifests by `name:tag` or `name@digest`. */
  readonly manifests = new Map<string, { mediaType: string; bytes: Uint8Array }>();
  readonly blobs = new Map<string, HostileBlob>();
  /** "METHOD /path" of every request. */
  readonly requests: string[] = [];
  /** Blob bodies being sent right now (a cancelled pull must bring this back to 0). */
  openStreams = 0;
  private readonly ac = new AbortController();
  private readonly server: Deno.HttpServer;
  private readonly stalled = new Set<() => void>();

  private constructor() {
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: this.ac.signal, onListen: () => {} },
      (req) => this.handle(req),
    );
    this.port = (this.server.addr as Deno.NetAddr).port;
    this.host = `127.0.0.1:${this.port}`;
  }

  static start(): HostileRegistry {
    return new HostileRegistry();
  }

  ref(nameAndTag: string): string {
    return `${this.host}/${nameAndTag}`;
  }

  /** Serves `built` under `name:tag` (and its manifest by digest). */
  putImage(name: string, tag: string, built: BuiltImage): string {
    this.putManifest(name, tag, built.manifest);
    for (const b of [built.config, ...built.layers]) this.blobs.set(b.digest, { bytes: b.bytes });
    return this.ref(`${name}:${tag}`);
  }

  putManifest(name: string, tag: string, m: Blob): void {
    const entry = { mediaType: m.mediaType, bytes: m.bytes };
    this.manifests.set(`${name}:${tag}`, entry);
    this.manifests.set(`${name}@${m.digest}`, entry);
  }

  private handle(req: Request): Response {
    const path = new URL(req.url).pathname;
    this.requests.push(`${req.method} ${path}`);
    if (path === "/v2/" || path === "/v2") return new Response("{}");
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    if (!m) return new Response("not found", { status: 404 });
    const [, name, kind, ref] = m;
    if (kind === "manifests") {
      const hit = this.manifests.get(ref.includes(":") ? `${name}@${ref}` : `${name}:${ref}`);
      if (!hit) return new Response("{}", { status: 404 });
      return new Response(hit.bytes as BodyInit, { headers: { "content-type": hit.mediaType } });
    }
    const blob = this.blobs.get(ref);
    if (!blob) return new Response("{}", { status: 404 });
    return new Response(this.blobBody(blob), {
      headers: { "content-type": "application/octet-stream" },
    });
  }

  private blobBody(blob: HostileBlob): ReadableStream<Uint8Array> {
    let sent = 0;
    let closed = false;
    this.openStreams++;
    const end = () => {
      if (!closed) this.openStreams--;
      closed = true;
    };
    const stalled = this.stalled;
    const filler = new Uint8Array(64 * 1024).fill(0x20);
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const limit = blob.stallAfter ?? Infinity;
        if (sent >= limit) {
          await new Promise<void>((r) => stalled.add(r));
          end();
          controller.error(new Error("registry closed"));
          return;
        }
        if (sent < blob.bytes.length) {
          const part = blob.bytes.subarray(sent, Math.min(blob.bytes.length, limit, sent + 65536));
          sent += part.length;
          controller.enqueue(part);
          return;
        }
        if (blob.endless) {
          sent += filler.length;
          controller.enqueue(filler);
          return;
        }
        end();
        controller.close();
      },
      cancel() {
        end();
      },
    });
  }

  async close(): Promise<void> {
    for (const wake of this.stalled) wake();
    this.ac.abort();
    await this.server.finished.catch(() => {});
  }
}
