/**
 * A `node:http`/`node:https` listener behind a ConnectionGuard, shared by the streaming
 * server and the admin API: it tracks its sockets so that stopping ends every connection
 * (upgraded ones and WebSockets too), hands requests and upgrades to its owner, and accepts
 * WebSockets with the subprotocol the owner picked.
 */
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import type { WebSocket, WebSocketServer } from "ws";
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
  /** The subprotocol the owner picked for each upgrade request, for `handleProtocols`. */
  readonly #wsProtocol = new WeakMap<http.IncomingMessage, string>();
  /** `ws`, loaded at the first WebSocket: most listeners never see one. */
  #wss: Promise<WebSocketServer> | null = null;
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

  /**
   * Completes a WebSocket upgrade answering with `protocol` (null: the client offered none)
   * and hands the socket to `onOpen`.
   */
  acceptWebSocket(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    protocol: string | null,
    onOpen: (ws: WebSocket) => void,
  ): void {
    if (protocol !== null) this.#wsProtocol.set(req, protocol);
    this.#webSocketServer().then(
      (wss) => wss.handleUpgrade(req, socket, Buffer.from(head), onOpen),
      () => socket.destroy(),
    );
  }

  #webSocketServer(): Promise<WebSocketServer> {
    this.#wss ??= import("ws").then(({ WebSocketServer }) =>
      new WebSocketServer({
        noServer: true,
        perMessageDeflate: false,
        handleProtocols: (_offered, req) => this.#wsProtocol.get(req) ?? false,
      })
    );
    return this.#wss;
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

  /** Stops listening and ends every connection, WebSockets included. */
  async close(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    this.#guard.close();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    const wss = await this.#wss?.catch(() => null);
    for (const c of wss?.clients ?? []) c.terminate();
    await closed;
  }
}
