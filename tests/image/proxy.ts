/**
 * A test HTTP proxy in front of a real registry that can stall blob downloads part-way
 * (sends the headers and the first KiB, then nothing), to test no-progress timeouts,
 * cancellation and SIGKILL mid-pull.
 */
import { freePort } from "../helpers/env.ts";

export class StallingProxy {
  readonly port = freePort();
  readonly url = `http://127.0.0.1:${this.port}`;
  /** Stall GETs of blobs larger than 10 KB (manifests and configs pass). */
  stall = true;
  /** Answer blob GETs with a 307 to the registry itself (as registries on S3/CDNs do). */
  redirectBlobs = false;
  /** Answer this many of the next requests with 503 (retries with backoff recover). */
  failNext = 0;
  /** "METHOD /path" of every request seen. */
  readonly requests: string[] = [];
  private readonly ac = new AbortController();
  private readonly stalled = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private readonly server: Deno.HttpServer;

  constructor(private readonly target: string) {
    this.server = Deno.serve(
      { hostname: "127.0.0.1", port: this.port, signal: this.ac.signal, onListen: () => {} },
      (req) => this.handle(req),
    );
  }

  private async handle(req: Request): Promise<Response> {
    const u = new URL(req.url);
    this.requests.push(`${req.method} ${u.pathname}`);
    if (this.failNext > 0) {
      this.failNext--;
      return new Response("try again", { status: 503 });
    }
    if (this.redirectBlobs && req.method === "GET" && u.pathname.includes("/blobs/")) {
      return new Response(null, {
        status: 307,
        headers: { location: `${this.target}${u.pathname}${u.search}` },
      });
    }
    const headers = new Headers(req.headers);
    headers.delete("host");
    const upstream = await fetch(`${this.target}${u.pathname}${u.search}`, {
      method: req.method,
      headers,
      redirect: "manual",
    });
    const size = Number(upstream.headers.get("content-length") ?? 0);
    if (!this.stall || req.method !== "GET" || !u.pathname.includes("/blobs/") || size < 10_000) {
      return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    }
    const reader = upstream.body!.getReader();
    const stalled = this.stalled;
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 1024) {
          // Stall: hold the connection open and send nothing more.
          stalled.add(controller);
          await new Promise(() => {});
        }
        const r = await reader.read();
        if (r.done) return controller.close();
        const part = r.value.subarray(0, 1024 - sent);
        sent += part.length;
        controller.enqueue(part);
      },
      cancel() {
        reader.cancel().catch(() => {});
      },
    });
    return new Response(body, { status: upstream.status, headers: upstream.headers });
  }

  async close(): Promise<void> {
    for (const c of this.stalled) {
      try {
        c.error(new Error("proxy closed"));
      } catch {
        // already closed
      }
    }
    this.ac.abort();
    await this.server.finished.catch(() => {});
  }
}
