/**
 * The CRI streaming server: kubelet proxies `kubectl exec/attach/port-forward` to the URLs
 * `Exec`/`Attach`/`PortForward` return. It runs on `node:http` because `Deno.serve` cannot
 * hand over the raw socket a SPDY/3.1 upgrade needs (see design.md), and serves:
 *
 * - SPDY/3.1 remote command (`v4.channel.k8s.io` … `channel.k8s.io`) and port-forward
 *   (`portforward.k8s.io`), the protocols kubelet still speaks on this leg;
 * - WebSocket `channel.k8s.io`, `base64.channel.k8s.io`, their `v4.` forms and
 *   `v5.channel.k8s.io` (stdin half-close), for remote command and port-forward.
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";
import { GuardedHttpServer } from "../core/guarded_http_server.ts";
import { trimFreeMemory } from "../linux/malloc.ts";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { RstStatus, SpdySession, type SpdyStream } from "./spdy.ts";
import { type StreamingRequest, TokenStore } from "./tokens.ts";
import {
  type CommandStreams,
  type DuplexStreams,
  ExitCodeError,
  type PortForwardRequest,
  type StreamingBackend,
} from "./types.ts";
import {
  finalErrorMessage,
  protocolVersion,
  resizeEvents,
  SPDY_COMMAND_PROTOCOLS,
  SPDY_PORT_FORWARD_PROTOCOL,
  STREAM_PROTOCOL_HEADER,
  writeText,
  WS_PORT_FORWARD_PROTOCOLS,
  WS_PROTOCOLS,
} from "./protocols.ts";
import { WsChannels } from "./ws_channels.ts";

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

function headerValues(req: http.IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct?.[name] ?? [];
  return raw.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

function rawHttpError(socket: Duplex, status: number, reason: string, body: string, extra = "") {
  const payload = new TextEncoder().encode(body + "\n");
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${payload.length}\r\n${extra}Connection: close\r\n\r\n` +
      new TextDecoder().decode(payload),
  );
}

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
    if (upgrade === "spdy/3.1") return this.#spdy(req, socket, head, request);
    if (upgrade === "websocket") return this.#websocket(req, socket, head, request);
    rawHttpError(
      socket,
      400,
      "Bad Request",
      `unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? "")}; use SPDY/3.1 or websocket`,
    );
  }

  // ------------------------------------------------------------------------------ SPDY

  #spdy(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    request: StreamingRequest,
  ): void {
    const offered = headerValues(req, STREAM_PROTOCOL_HEADER);
    const supported: readonly string[] = request.kind === "portforward"
      ? [SPDY_PORT_FORWARD_PROTOCOL]
      : SPDY_COMMAND_PROTOCOLS;
    // As Kubernetes' handshake: the client's order wins; no header at all means the
    // original protocol.
    const protocol = offered.length === 0
      ? supported[supported.length - 1]
      : offered.find((p) => supported.includes(p));
    if (!protocol) {
      return rawHttpError(
        socket,
        403,
        "Forbidden",
        `unable to upgrade: unable to negotiate protocol: client supports ${
          JSON.stringify(offered)
        }, server supports ${JSON.stringify(supported)}`,
        `X-Accepted-Stream-Protocol-Versions: ${supported.join(", ")}\r\n`,
      );
    }
    socket.write(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n" +
        (offered.length ? `X-Stream-Protocol-Version: ${protocol}\r\n` : "") + "\r\n",
    );
    if (request.kind === "portforward") {
      this.#spdyPortForward(socket, head, request.req);
    } else {
      this.#spdyCommand(socket, head, protocolVersion(protocol), request);
    }
  }

  #spdyCommand(
    socket: Duplex,
    head: Uint8Array,
    version: number,
    request: Extract<StreamingRequest, { kind: "exec" | "attach" }>,
  ): void {
    const r = request.req;
    const expected = new Set<string>(["error"]);
    if (r.stdin) expected.add("stdin");
    if (r.stdout) expected.add("stdout");
    if (r.stderr && !r.tty) expected.add("stderr");
    if (r.tty && version >= 3) expected.add("resize");
    const got = new Map<string, SpdyStream>();
    const ready = Promise.withResolvers<void>();
    const abort = new AbortController();
    const session = new SpdySession(socket, head, {
      onStream: (s) => {
        const type = s.headers.get("streamtype") ?? "";
        if (!expected.has(type) || got.has(type)) {
          this.#log.debug("refusing unexpected stream", { type, kind: request.kind });
          s.reset(RstStatus.RefusedStream);
          return;
        }
        got.set(type, s);
        if (got.size === expected.size) ready.resolve();
      },
      onClose: () => {
        abort.abort(new Error("client connection closed"));
        ready.reject(new Error("client connection closed before opening its streams"));
      },
    });
    const timer = setTimeout(
      () =>
        ready.reject(
          new Error(
            `timed out waiting for client to create streams ${
              JSON.stringify([...expected].filter((t) => !got.has(t)))
            }`,
          ),
        ),
      this.#opts.streamCreationTimeoutMs,
    );
    ready.promise.then(
      async () => {
        clearTimeout(timer);
        // Directions the client never writes: drop whatever arrives there.
        for (const t of ["error", "stdout", "stderr"]) {
          got.get(t)?.readable.cancel().catch(() => {});
        }
        const streams: CommandStreams = {
          stdin: got.get("stdin")?.readable ?? null,
          stdout: got.get("stdout")?.writable ?? null,
          stderr: got.get("stderr")?.writable ?? null,
          resize: got.has("resize") ? resizeEvents(got.get("resize")!.readable) : null,
        };
        const err = await this.#runCommand(request, streams, abort.signal);
        const msg = finalErrorMessage(version, err);
        await writeText(got.get("error")!.writable, msg ?? "");
        session.close();
      },
      (err: Error) => {
        clearTimeout(timer);
        this.#log.info("streaming session ended before it started", {
          kind: request.kind,
          error: err.message,
        });
        session.destroy();
      },
    );
  }

  /** Runs exec or attach; the error to report, or null on success. */
  async #runCommand(
    request: Extract<StreamingRequest, { kind: "exec" | "attach" }>,
    streams: CommandStreams,
    signal: AbortSignal,
  ): Promise<Error | null> {
    try {
      if (request.kind === "exec") {
        const code = await this.#opts.backend.exec(request.req, streams, signal);
        return code === 0 ? null : new ExitCodeError(code, request.req.cmd);
      }
      await this.#opts.backend.attach(request.req, streams, signal);
      return null;
    } catch (err) {
      if (signal.aborted) return null;
      this.#log.warn("streaming command failed", {
        kind: request.kind,
        container: request.req.containerId,
        error: errorMessage(err),
      });
      return err instanceof Error ? err : new Error(String(err));
    } finally {
      // Whatever the backend did not consume must not hold the session open.
      streams.stdin?.cancel().catch(() => {});
      streams.resize?.cancel().catch(() => {});
    }
  }

  #spdyPortForward(socket: Duplex, head: Uint8Array, req: PortForwardRequest): void {
    interface Pair {
      data?: SpdyStream;
      error?: SpdyStream;
      port: number;
      timer: ReturnType<typeof setTimeout>;
    }
    const pairs = new Map<string, Pair>();
    const abort = new AbortController();
    const session = new SpdySession(socket, head, {
      onStream: (s) => {
        const type = s.headers.get("streamtype") ?? "";
        const port = Number(s.headers.get("port") ?? "");
        // Clients before request IDs paired a data stream with the error stream opened
        // just before it.
        const requestId = s.headers.get("requestid") ??
          String(type === "data" ? s.id - 2 : s.id);
        if (
          (type !== "data" && type !== "error") || !Number.isInteger(port) || port < 1 ||
          port > 65535
        ) {
          this.#log.debug("refusing port-forward stream", { type, port: s.headers.get("port") });
          s.reset(RstStatus.RefusedStream);
          return;
        }
        let pair = pairs.get(requestId);
        if (!pair) {
          pair = {
            port,
            timer: setTimeout(() => {
              pairs.delete(requestId);
              const p = pair!;
              const msg = `timed out waiting for the ${p.data ? "error" : "data"} stream of ` +
                `request ${requestId} (port ${port})`;
              if (p.error) writeText(p.error.writable, msg);
              p.data?.reset();
            }, this.#opts.streamCreationTimeoutMs),
          };
          pairs.set(requestId, pair);
        }
        if (pair[type]) {
          s.reset(RstStatus.StreamInUse);
          return;
        }
        pair[type] = s;
        if (pair.data && pair.error) {
          clearTimeout(pair.timer);
          pairs.delete(requestId);
          this.#forwardPair(req, pair.port, pair.data, pair.error, abort.signal);
        }
      },
      onClose: () => {
        abort.abort(new Error("client connection closed"));
        for (const p of pairs.values()) clearTimeout(p.timer);
        pairs.clear();
      },
    });
    void session;
  }

  async #forwardPair(
    req: PortForwardRequest,
    port: number,
    data: SpdyStream,
    error: SpdyStream,
    signal: AbortSignal,
  ): Promise<void> {
    // The client never writes on the error stream.
    error.readable.cancel().catch(() => {});
    const message = await this.#forward(req, port, data, signal);
    await writeText(error.writable, message ?? "");
  }

  /** Forwards one connection; the error text for the client, or null. */
  async #forward(
    req: PortForwardRequest,
    port: number,
    conn: DuplexStreams,
    signal: AbortSignal,
  ): Promise<string | null> {
    try {
      if (req.ports.length && !req.ports.includes(port)) {
        throw new Error(`port ${port} was not requested for forwarding (allowed: ${req.ports})`);
      }
      await this.#opts.backend.portForward(req.podSandboxId, port, conn, signal);
      return null;
    } catch (err) {
      if (signal.aborted) return null;
      return `error forwarding port ${port} to pod ${req.podSandboxId}, uid : ${errorMessage(err)}`;
    } finally {
      await conn.writable.close().catch(() => {});
      await conn.readable.cancel().catch(() => {});
    }
  }

  // ------------------------------------------------------------------------- WebSocket

  #websocket(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    request: StreamingRequest,
  ): void {
    const offered = headerValues(req, "sec-websocket-protocol");
    const supported = request.kind === "portforward" ? WS_PORT_FORWARD_PROTOCOLS : WS_PROTOCOLS;
    // The client's order wins; a client that offers nothing gets the original binary
    // `channel.k8s.io` framing, as Kubernetes does.
    const protocol = offered.length === 0
      ? "channel.k8s.io"
      : offered.find((p) => (supported as readonly string[]).includes(p));
    if (!protocol) {
      return rawHttpError(
        socket,
        400,
        "Bad Request",
        `unable to negotiate a WebSocket subprotocol: client offered ${
          JSON.stringify(offered)
        }, server supports ${JSON.stringify(supported)}`,
      );
    }
    let ports: number[] = [];
    if (request.kind === "portforward") {
      const q = new URL(req.url ?? "/", "http://x").searchParams.getAll("port");
      ports = q.map(Number);
      if (!ports.length || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        return rawHttpError(
          socket,
          400,
          "Bad Request",
          "port-forward over WebSocket needs one or more ?port=<1-65535> query parameters",
        );
      }
    }
    this.#http?.acceptWebSocket(req, socket, head, offered.length ? protocol : null, (ws) => {
      const channel = new WsChannels(ws, protocol);
      if (request.kind === "portforward") {
        this.#wsPortForward(channel, request.req, ports);
      } else this.#wsCommand(channel, request, protocolVersion(protocol));
    });
  }

  async #wsCommand(
    ch: WsChannels,
    request: Extract<StreamingRequest, { kind: "exec" | "attach" }>,
    version: number,
  ): Promise<void> {
    const r = request.req;
    const abort = new AbortController();
    ch.onClose = () => abort.abort(new Error("client connection closed"));
    // Tell the client the session is established: an empty message on the lowest
    // writable channel, as Kubernetes does.
    ch.send(r.stdout ? 1 : r.stderr && !r.tty ? 2 : 3, new Uint8Array(0));
    const streams: CommandStreams = {
      stdin: r.stdin ? ch.readable(0) : null,
      stdout: r.stdout ? ch.writable(1) : null,
      stderr: r.stderr && !r.tty ? ch.writable(2) : null,
      resize: r.tty ? resizeEvents(ch.readable(4)) : null,
    };
    const err = await this.#runCommand(request, streams, abort.signal);
    const msg = finalErrorMessage(version, err);
    if (msg) await ch.sendAsync(3, new TextEncoder().encode(msg)).catch(() => {});
    ch.close();
  }

  async #wsPortForward(ch: WsChannels, req: PortForwardRequest, ports: number[]): Promise<void> {
    const abort = new AbortController();
    ch.onClose = () => abort.abort(new Error("client connection closed"));
    await Promise.all(ports.map(async (port, i) => {
      const prefix = new Uint8Array([port & 0xff, port >> 8]);
      ch.send(2 * i, prefix);
      ch.send(2 * i + 1, prefix);
      const conn: DuplexStreams = { readable: ch.readable(2 * i), writable: ch.writable(2 * i) };
      const message = await this.#forward(req, port, conn, abort.signal);
      if (message) await ch.sendAsync(2 * i + 1, new TextEncoder().encode(message)).catch(() => {});
    }));
    ch.close();
  }
}
