/**
 * A `node:http`/`node:https` listener behind a ConnectionGuard, shared by the streaming
 * server and the admin API: it tracks its sockets so that stopping ends every connection
 * (upgraded ones too), and hands requests and upgrades to its owner.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { ConnectionGuard, type ConnectionGuardOptions } from "./connection_guard.ts";

export interface GuardedHttpServerOptions extends ConnectionGuardOptions {
  tls?: { cert: string; key: string };
  onRequest: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  onUpgrade: (req: http.IncomingMessage, socket: Duplex, head: Uint8Array) => void;
}

export class GuardedHttpServer {
  readonly scheme: "http" | "https";
  readonly #server: http.Server;
  readonly #guard: ConnectionGuard;
  readonly #sockets = new Set<Duplex>();
  #listening = false;

  constructor(opts: GuardedHttpServerOptions) {
    this.scheme = opts.tls ? "https" : "http";
    this.#guard = new ConnectionGuard(opts);
    const server = opts.tls
      ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key })
      : http.createServer();
    server.on("request", opts.onRequest);
    server.on("upgrade", opts.onUpgrade);
    server.on("connection", (socket: Duplex) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    this.#server = server;
  }

  /** Open client connections (upgraded or not). */
  get connections(): number {
    return this.#sockets.size;
  }

  /** A connection completed a request: the guard no longer counts it as waiting. */
  admit(socket: Duplex): void {
    this.#guard.admit(socket);
  }

  /** An upgraded connection, tracked so that close() ends it too. */
  track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
  }

  /** Listens on host:port (port 0 picks one); rejects with the listener's own error. */
  async listen(port: number, hostname: string): Promise<AddressInfo> {
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, () => {
        // From here on the guard's handler logs accept errors (EMFILE once) and goes on.
        server.removeListener("error", reject);
        this.#guard.attach(server);
        resolve();
      });
    });
    this.#listening = true;
    return server.address() as AddressInfo;
  }

  /** Stops listening and ends every connection; `endUpgraded` ends the owner's streams. */
  async close(endUpgraded: () => void = () => {}): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    this.#guard.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    endUpgraded();
    await closed;
  }
}
