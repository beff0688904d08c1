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
import { Buffer } from "node:buffer";
import * as http from "node:http";
import * as https from "node:https";
import type { Duplex } from "node:stream";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer } from "ws";
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
  type TerminalSize,
} from "./types.ts";

/** SPDY remote-command protocols, newest (preferred) first. */
export const SPDY_COMMAND_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v3.channel.k8s.io",
  "v2.channel.k8s.io",
  "channel.k8s.io",
] as const;
export const SPDY_PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
/** WebSocket subprotocols for remote command and port-forward. */
export const WS_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
] as const;
const WS_PORT_FORWARD_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "portforward.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
];

const STREAM_PROTOCOL_HEADER = "x-stream-protocol-version";

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
  backend: StreamingBackend;
  log: Logger;
  tokens?: TokenStore;
}

type Kind = StreamingRequest["kind"];

function protocolVersion(protocol: string): number {
  const m = /^v(\d+)\./.exec(protocol);
  return m ? Number(m[1]) : 1;
}

/** v4+ JSON Status for the error stream; null for success. */
function statusJson(err: Error | null): string {
  if (!err) return JSON.stringify({ metadata: {}, status: "Success" });
  if (err instanceof ExitCodeError) {
    return JSON.stringify({
      metadata: {},
      status: "Failure",
      message: err.message,
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: String(err.exitCode) }] },
    });
  }
  return JSON.stringify({
    metadata: {},
    status: "Failure",
    message: `Internal error occurred: ${err.message}`,
    reason: "InternalError",
    details: { causes: [{ message: err.message }] },
    code: 500,
  });
}

/** What goes on the error stream at the end, per protocol version; null = nothing. */
function finalErrorMessage(version: number, err: Error | null): string | null {
  if (version >= 4) return statusJson(err);
  return err ? err.message : null;
}

/** JSON `{"Width":w,"Height":h}` objects, one after another, into sizes. */
export function resizeEvents(bytes: ReadableStream<Uint8Array>): ReadableStream<TerminalSize> {
  const td = new TextDecoder();
  let text = "";
  return bytes.pipeThrough(
    new TransformStream<Uint8Array, TerminalSize>({
      transform(chunk, controller) {
        text += td.decode(chunk, { stream: true });
        for (;;) {
          const start = text.indexOf("{");
          const end = text.indexOf("}", start);
          if (start < 0 || end < 0) break;
          const obj = text.slice(start, end + 1);
          text = text.slice(end + 1);
          try {
            const v = JSON.parse(obj) as { Width?: number; Height?: number };
            const width = Number(v.Width ?? 0), height = Number(v.Height ?? 0);
            if (width > 0 && height > 0 && width < 65536 && height < 65536) {
              controller.enqueue({ width, height });
            }
          } catch {
            // A malformed resize message is dropped, as kubelet does.
          }
        }
        if (text.length > 4096) text = "";
      },
    }),
  );
}

async function writeText(w: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = w.getWriter();
  try {
    if (text) await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch {
    // The client went away; nothing left to tell it.
  } finally {
    writer.releaseLock();
  }
}

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
  readonly #sockets = new Set<Duplex>();
  /** The subprotocol picked for each upgrade request, for `handleProtocols` to answer. */
  readonly #wsProtocol = new WeakMap<http.IncomingMessage, string>();
  readonly #wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => this.#wsProtocol.get(req) ?? false,
  });
  #server: http.Server | null = null;
  #address = "";
  #scheme = "http";

  constructor(opts: StreamingServerOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.tokens = opts.tokens ?? new TokenStore();
  }

  /** Open client connections (upgraded or not). */
  get connections(): number {
    return this.#sockets.size;
  }

  /** host:port actually listened on. */
  get address(): string {
    return this.#address;
  }

  async start(): Promise<void> {
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(this.#opts.address);
    if (!m) throw new Error(`streaming address ${this.#opts.address} is not host:port`);
    const host = m[1].replace(/^\[|\]$/g, "");
    const tls = Boolean(this.#opts.tlsCert && this.#opts.tlsKey);
    this.#scheme = tls ? "https" : "http";
    const server = tls
      ? https.createServer({ cert: this.#opts.tlsCert, key: this.#opts.tlsKey })
      : http.createServer();
    server.on("request", (req, res) => this.#onPlainRequest(req, res));
    server.on("upgrade", (req, socket, head) => this.#onUpgrade(req, socket, head));
    server.on("connection", (socket: Duplex) => {
      this.#sockets.add(socket);
      socket.on("close", () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err: Error) =>
        reject(
          new Error(
            `the streaming server cannot listen on ${this.#opts.address}: ${err.message}; ` +
              "set [streaming] address to a free host:port (port 0 picks one)",
            { cause: err },
          ),
        ));
      server.listen(Number(m[2]), host, () => {
        server.removeAllListeners("error");
        server.on("error", (err: Error) => {
          this.#log.warn("streaming server error", { error: err.message });
        });
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    let urlHost = addr.address;
    // An unspecified bind address is not something a client can connect to.
    if (urlHost === "0.0.0.0") urlHost = "127.0.0.1";
    if (urlHost === "::") urlHost = "::1";
    this.#address = urlHost.includes(":") ? `[${urlHost}]:${addr.port}` : `${urlHost}:${addr.port}`;
    this.#server = server;
    this.#log.info("streaming server listening", { address: this.#address, tls });
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    for (const c of this.#wss.clients) c.terminate();
    await closed;
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
    const route = this.#route(req.url);
    const send = (status: number, body: string) => {
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8", connection: "close" })
        .end(body + "\n");
    };
    if (!route) return send(404, `no streaming endpoint at ${req.url}`);
    // Consumed even though the request cannot be served: tokens are single-use.
    if (!this.tokens.consume(route.token, route.kind)) {
      return send(404, "unknown, expired or already used streaming token; request a new URL");
    }
    send(400, "Upgrade request required: use SPDY/3.1 or WebSocket");
  }

  #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Uint8Array): void {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
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
    if (offered.length) this.#wsProtocol.set(req, protocol);
    this.#wss.handleUpgrade(req, socket, Buffer.from(head), (ws) => {
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

/**
 * Kubernetes' channel framing over one WebSocket: each message starts with a channel byte
 * (binary protocols) or a channel digit followed by base64 (`base64.` protocols).
 * `v5.channel.k8s.io` adds a close signal: channel 255 followed by the channel to close.
 */
class WsChannels {
  readonly #ws: WebSocket;
  readonly #base64: boolean;
  readonly #v5: boolean;
  readonly #readers = new Map<number, ReadableStreamDefaultController<Uint8Array>>();
  readonly #slow = new Set<number>();
  #closed = false;
  onClose: () => void = () => {};

  constructor(ws: WebSocket, protocol: string) {
    this.#ws = ws;
    this.#base64 = protocol.includes("base64");
    this.#v5 = protocol.startsWith("v5.");
    ws.on("message", (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on("close", () => this.#teardown());
    ws.on("error", () => this.#teardown());
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The socket is gone: every input channel ends (EOF, like a half-close).
    for (const c of this.#readers.values()) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#readers.clear();
    this.onClose();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    let channel: number;
    let payload: Uint8Array;
    if (this.#base64 && !isBinary) {
      const text = data.toString("utf8");
      if (!text.length) return;
      channel = text.charCodeAt(0) - 48;
      payload = Uint8Array.from(atob(text.slice(1)), (c) => c.charCodeAt(0));
    } else {
      if (!data.length) return;
      channel = data[0];
      payload = new Uint8Array(data.subarray(1));
    }
    if (this.#v5 && channel === 255) {
      const c = this.#readers.get(payload[0]);
      if (c) {
        try {
          c.close();
        } catch { /* already closed */ }
        this.#readers.delete(payload[0]);
      }
      return;
    }
    const c = this.#readers.get(channel);
    if (!c || !payload.length) return;
    c.enqueue(payload);
    if ((c.desiredSize ?? 1) <= 0) {
      this.#slow.add(channel);
      this.#ws.pause();
    }
  }

  readable(channel: number): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (this.#closed) controller.close();
        else this.#readers.set(channel, controller);
      },
      pull: () => {
        if (this.#slow.delete(channel) && this.#slow.size === 0 && !this.#closed) {
          this.#ws.resume();
        }
      },
      cancel: () => {
        this.#readers.delete(channel);
        if (this.#slow.delete(channel) && this.#slow.size === 0 && !this.#closed) {
          this.#ws.resume();
        }
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 256 * 1024 }));
  }

  writable(channel: number): WritableStream<Uint8Array> {
    return new WritableStream<Uint8Array>({
      write: async (chunk) => {
        for (let off = 0; off < chunk.length; off += 32 * 1024) {
          await this.sendAsync(channel, chunk.subarray(off, off + 32 * 1024));
        }
      },
    });
  }

  #frame(channel: number, payload: Uint8Array): Buffer | string {
    if (this.#base64) {
      let bin = "";
      for (let i = 0; i < payload.length; i += 8192) {
        bin += String.fromCharCode(...payload.subarray(i, i + 8192));
      }
      return String.fromCharCode(48 + channel) + btoa(bin);
    }
    const out = Buffer.allocUnsafe(payload.length + 1);
    out[0] = channel;
    out.set(payload, 1);
    return out;
  }

  send(channel: number, payload: Uint8Array): void {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(this.#frame(channel, payload));
  }

  /** Resolves once the frame was handed to the socket: the producer's backpressure. */
  sendAsync(channel: number, payload: Uint8Array): Promise<void> {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("WebSocket is closed"));
    }
    return new Promise((resolve, reject) =>
      this.#ws.send(this.#frame(channel, payload), (err) => err ? reject(err) : resolve())
    );
  }

  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
  }
}
