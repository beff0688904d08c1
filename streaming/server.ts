/**
 * The CRI streaming server: kubelet proxies `kubectl exec/attach/port-forward` to the URLs
 * `Exec`/`Attach`/`PortForward` return. It runs on `node:http` because `Deno.serve` cannot
 * hand over the raw socket a SPDY/3.1 upgrade needs (see design.md). Here: the listener,
 * the tokens and the routing; the sessions themselves (SPDY/3.1 in spdy_session.ts,
 * WebSocket in ws_session.ts) are loaded at the first upgrade of their kind, so an idle
 * node holds neither protocol's code (nor pako or ws).
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";
import { GuardedHttpServer } from "../core/guarded_http_server.ts";
import { trimFreeMemory } from "../linux/malloc.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { type StreamingRequest, TokenStore } from "./tokens.ts";
import type { StreamingBackend } from "./types.ts";
import { rawHttpError, type SessionContext } from "./session.ts";
import type { WsSessionContext } from "./ws_session.ts";

export interface StreamingServerOptions {
  /** host:port to listen on; port 0 picks a free one. */
  address: string;
  /** PEM certificate and key (contents, not paths); both empty = plain HTTP. */
  tlsCert?: string;
  tlsKey?: string;
  /** Close a connection with no traffic for this long (0 = never). */
  idleTimeoutMs: number;
  /** Time the client has to open its streams after the upgrade. */
  streamCreationTimeoutMs: number;
  /** Connections without a complete request yet, at most (more are closed). */
  maxPendingConnections?: number;
  /** Close a connection that has not sent a complete request within this. */
  requestHeaderTimeoutMs?: number;
  backend: StreamingBackend;
  log: Logger;
  tokens?: TokenStore;
}

type Kind = StreamingRequest["kind"];

export class StreamingServer {
  readonly tokens: TokenStore;
  readonly #opts: StreamingServerOptions;
  readonly #log: Logger;
  #http: GuardedHttpServer | null = null;
  #address = "";
  #scheme = "http";

  constructor(opts: StreamingServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.tokens = opts.tokens ?? new TokenStore();
  }

  /** Open client connections (upgraded or not). */
  get connections(): number {
    return this.#http?.connections ?? 0;
  }

  /** host:port actually listened on. */
  get address(): string {
    return this.#address;
  }

  async start(): Promise<void> {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(this.#opts.address);
    if (!m) throw new Error(`streaming address ${this.#opts.address} is not host:port`);
    const host = m[1].replace(/^\[|\]$/g, "");
    const opts = this.#opts;
    const tls = opts.tlsCert && opts.tlsKey ? { cert: opts.tlsCert, key: opts.tlsKey } : undefined;
    const server = new GuardedHttpServer({
      name: "streaming",
      maxPending: opts.maxPendingConnections ?? 1024,
      headerTimeoutMs: opts.requestHeaderTimeoutMs ?? 5000,
      log: opts.log,
      afterBurst: trimFreeMemory,
      tls,
      onRequest: (req, res) => this.#onPlainRequest(req, res),
      onUpgrade: (req, socket, head) => this.#onUpgrade(req, socket, head),
    });
    this.#scheme = server.scheme;
    const addr = await server.listen(Number(m[2]), host).catch((err) => {
      throw new Error(
        `the streaming server cannot listen on ${opts.address}: ${errorMessage(err)}; ` +
          "set [streaming] address to a free host:port (port 0 picks one)",
        { cause: err },
      );
    });
    let urlHost = addr.address;
    // An unspecified bind address is not something a client can connect to.
    if (urlHost === "0.0.0.0") urlHost = "127.0.0.1";
    if (urlHost === "::") urlHost = "::1";
    this.#address = urlHost.includes(":") ? `[${urlHost}]:${addr.port}` : `${urlHost}:${addr.port}`;
    this.#http = server;
    this.#log.info("streaming server listening", { address: this.#address, tls: !!tls });
  }

  async stop(): Promise<void> {
    const server = this.#http;
    this.#http = null;
    await server?.close();
  }

  /** Stores the request and returns the absolute URL the client must use. */
  url(request: StreamingRequest): string {
    const token = this.tokens.insert(request);
    return `${this.#scheme}://${this.#address}/${request.kind}/${token}`;
  }

  #route(url: string | undefined): { kind: Kind; token: string } | null {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_\-=]+)(?:\?.*)?$/.exec(url ?? "");
    return m ? { kind: m[1] as Kind, token: m[2] } : null;
  }

  #onPlainRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#http?.admit(req.socket);
    const route = this.#route(req.url);
    const send = (status: number, body: string) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close" })
        .end(body + "\n");
    };
    if (!route) return send(404, `no streaming endpoint at ${req.url}`);
    // Only a real upgrade consumes a token: a stray GET (a probe, a link preview) must not
    // use up the URL kubelet is about to upgrade on.
    if (!this.tokens.has(route.token, route.kind)) {
      return send(404, "unknown, expired or already used streaming token; request a new URL");
    }
    send(400, "Upgrade request required: use SPDY/3.1 or WebSocket");
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Uint8Array): void {
    this.#http?.admit(socket);
    this.#http?.track(socket);
    socket.on("error", () => {});
    const route = this.#route(req.url);
    if (!route) {
      return rawHttpError(socket, 404, "Not Found", `no streaming endpoint at ${req.url}`);
    }
    const request = this.tokens.consume(route.token, route.kind);
    if (!request) {
      return rawHttpError(
        socket,
        404,
        "Not Found",
        "unknown, expired or already used streaming token; request a new URL",
      );
    }
    const upgrade = (req.headers.upgrade ?? "").toLowerCase();
    if (this.#opts.idleTimeoutMs > 0) {
      (socket as Duplex & { setTimeout(ms: number, cb: () => void): void }).setTimeout(
        this.#opts.idleTimeoutMs,
        () => {
          this.#log.info("closing idle streaming connection", { kind: route.kind });
          socket.destroy();
        },
      );
    }
    if (upgrade === "spdy/3.1") {
      return void this.#serve(import("./spdy_session.ts"), socket, (m) => {
        m.serveSpdy(this.#sessionContext(), req, socket, head, request);
      });
    }
    if (upgrade === "websocket") {
      return void this.#serve(import("./ws_session.ts"), socket, (m) => {
        m.serveWebSocket(this.#wsSessionContext(), req, socket, head, request);
      });
    }
    rawHttpError(
      socket,
      400,
      "Bad Request",
      `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? "")}; use SPDY/3.1 or websocket`,
    );
  }

  /** Runs a session once its protocol's module is loaded (at once after the first time). */
  async #serve<M>(module: Promise<M>, socket: Duplex, run: (m: M) => void): Promise<void> {
    let m: M;
    try {
      m = await module;
    } catch (err) {
      this.#log.error("streaming protocol failed to load", { error: errorMessage(err) });
      socket.destroy();
      return;
    }
    run(m);
  }

  #sessionContext(): SessionContext {
    const { backend, streamCreationTimeoutMs } = this.#opts;
    return { backend, log: this.#log, streamCreationTimeoutMs };
  }

  #wsSessionContext(): WsSessionContext {
    return {
      ...this.#sessionContext(),
      accept: (req, socket, head, protocol, onOpen) =>
        this.#http?.acceptWebSocket(req, socket, head, protocol, onOpen),
    };
  }
}
