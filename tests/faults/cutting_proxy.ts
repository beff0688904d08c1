/**
 * A TCP proxy (node:net) in front of a real registry that cuts connections in the middle of
 * blob responses: for the first `cuts` GETs of a blob whose digest is in `targets`, it
 * forwards `afterBytes` bytes of the response and then destroys both sockets, as a
 * registry, load balancer or flaky network dropping a download does.
 */
import net from "node:net";
import { freePort } from "../helpers/env.ts";

export class CuttingProxy {
  readonly port = freePort();
  readonly host = `127.0.0.1:${this.port}`;
  /** Blob digests whose downloads are cut. */
  targets = new Set<string>();
  /** How many of the next target downloads are cut (Infinity: never recover). */
  cuts = 0;
  /** Response bytes (headers included) forwarded before a cut. */
  afterBytes = 64 * 1024;
  /** GETs of target blobs seen, and how many were cut. */
  attempts = 0;
  cutCount = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly upstreamPort: number) {
    this.server = net.createServer((client) => this.handle(client));
  }

  static async start(upstreamPort: number): Promise<CuttingProxy> {
    const p = new CuttingProxy(upstreamPort);
    await new Promise<void>((resolve, reject) => {
      p.server.once("error", reject);
      p.server.listen(p.port, "127.0.0.1", () => resolve());
    });
    return p;
  }

  private handle(client: net.Socket): void {
    const upstream = net.connect(this.upstreamPort, "127.0.0.1");
    this.sockets.add(client);
    this.sockets.add(upstream);
    // Whether the response now flowing back belongs to a download being cut, and how much
    // of it has gone through. One request at a time per connection (HTTP/1.1, no pipelining).
    let cutting = false;
    let forwarded = 0;
    let dead = false;
    const close = () => {
      dead = true;
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on("data", (chunk: Uint8Array) => {
      if (dead) return;
      const text = new TextDecoder().decode(chunk.subarray(0, 512));
      const m = /^GET (\S+) HTTP\/1\.1\r\n/.exec(text);
      if (m) {
        const digest = [...this.targets].find((d) => m[1].endsWith(`/blobs/${d}`));
        cutting = false;
        if (digest) {
          this.attempts++;
          if (this.cutCount < this.cuts) {
            this.cutCount++;
            cutting = true;
            forwarded = 0;
          }
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Uint8Array) => {
      if (dead) return;
      if (!cutting) {
        client.write(chunk);
        return;
      }
      const room = this.afterBytes - forwarded;
      if (chunk.length < room) {
        forwarded += chunk.length;
        client.write(chunk);
        return;
      }
      dead = true;
      client.write(chunk.subarray(0, room), () => close());
    });
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
