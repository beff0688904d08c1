/**
 * The admin API's listener: `node:http` (or `node:https`) carrying the Hono app's `fetch`.
 *
 * Not `Deno.serve`: it cannot count or refuse connections, and when `accept` fails with
 * EMFILE it stops serving for good (its `finished` promise rejects). Here each new
 * connection passes the ConnectionGuard (cap on connections without a request yet, a
 * deadline for the first request, EMFILE logged once), and WebSocket upgrades are taken
 * over by `ws` once the route has accepted them (`acceptWebSocket`).
 *
 * Hono's env under this server is an `AdminEnv`: the peer's address, a `completed` promise
 * (rejects when the client goes away before the response was delivered) and, on upgrade
 * requests, `upgradeWebSocket`.
 */
import * as http from "node:http";
import { Readable } from "node:stream";
import type { Duplex } from "node:stream";
import type { Context } from "hono";
import { GuardedHttpServer } from "../core/guarded_http_server.ts";
import { trimFreeMemory } from "../linux/malloc.ts";
import type { Logger } from "../core/log.ts";

export interface AdminEnv {
  remoteAddr: { hostname: string; port: number; transport: "tcp" };
  /** Resolves when the response was delivered; rejects if the client went away first. */
  completed: Promise<void>;
  /** On upgrade requests: accept the WebSocket once the route returns the response given. */
  upgradeWebSocket?: (protocol: string, onOpen: (socket: WebSocket) => void) => Response;
}

export type AdminFetch = (request: Request, env: AdminEnv) => Response | Promise<Response>;

export interface AdminHttpServerOptions {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string };
  fetch: AdminFetch;
  maxPendingConnections: number;
  requestHeaderTimeoutMs: number;
  log: Logger;
}

/**
 * Accepts a WebSocket upgrade with `protocol`; `onOpen` gets the open socket. Under this
 * server the socket comes from `ws`; elsewhere (Deno.serve) from `Deno.upgradeWebSocket`.
 */
export function acceptWebSocket(
  c: Context,
  protocol: string,
  onOpen: (socket: WebSocket) => void,
): Response {
  const env = c.env as Partial<AdminEnv> | undefined;
  if (env?.upgradeWebSocket) return env.upgradeWebSocket(protocol, onOpen);
  const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { protocol });
  onOpen(socket);
  return response;
}

function requestOf(req: http.IncomingMessage, scheme: string): Request {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  let url: URL;
  try {
    url = new URL(req.url ?? "/", `${scheme}://${req.headers.host ?? "localhost"}`);
  } catch {
    url = new URL(req.url ?? "/", `${scheme}://localhost`);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
    // @ts-ignore: `duplex` is required for a streamed body, not yet in the DOM types.
    duplex: "half",
  });
}

function headersOf(response: Response): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  return out;
}

/** Writes `response` to `res`, at the client's pace; a client that leaves cancels the body. */
async function deliver(res: http.ServerResponse, response: Response, head: boolean) {
  res.writeHead(response.status, headersOf(response));
  if (!response.body || head) {
    await response.body?.cancel().catch(() => {});
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const gone = () => reader.cancel().catch(() => {});
  res.once("close", gone);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go).off("close", go);
            resolve();
          };
          res.on("drain", go).on("close", go);
        });
      }
      if (res.destroyed) return;
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    res.off("close", gone);
  }
}

/** A response the route gave instead of accepting an upgrade, as raw HTTP/1.1. */
async function rawResponse(socket: Duplex, response: Response): Promise<void> {
  const body = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
  const lines = [`HTTP/1.1 ${response.status} ${http.STATUS_CODES[response.status] ?? ""}`];
  response.headers.forEach((v, k) => {
    if (k !== "content-length" && k !== "connection") lines.push(`${k}: ${v}`);
  });
  lines.push(`content-length: ${body.length}`, "connection: close", "", "");
  socket.write(lines.join("\r\n"));
  socket.end(body);
}

export class AdminHttpServer {
  readonly #opts: AdminHttpServerOptions;
  #http: GuardedHttpServer | null = null;
  #scheme = "http";

  constructor(opts: AdminHttpServerOptions) {
    this.#opts = opts;
  }

  /** Listens; returns the address actually bound (port 0 picks one). */
  async start(): Promise<{ hostname: string; port: number }> {
    const opts = this.#opts;
    const server = new GuardedHttpServer({
      name: "admin",
      maxPending: opts.maxPendingConnections,
      headerTimeoutMs: opts.requestHeaderTimeoutMs,
      log: opts.log,
      afterBurst: trimFreeMemory,
      tls: opts.tls,
      onRequest: (req, res) => this.#onRequest(req, res),
      onUpgrade: (req, socket, head) => this.#onUpgrade(req, socket, head),
    });
    this.#scheme = server.scheme;
    const addr = await server.listen(opts.port, opts.hostname);
    this.#http = server;
    return { hostname: addr.address, port: addr.port };
  }

  async stop(): Promise<void> {
    const server = this.#http;
    this.#http = null;
    await server?.close();
  }

  #env(req: http.IncomingMessage): AdminEnv {
    return {
      remoteAddr: {
        hostname: req.socket.remoteAddress ?? "unknown",
        port: req.socket.remotePort ?? 0,
        transport: "tcp",
      },
      completed: Promise.resolve(),
    };
  }

  async #onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.#http?.admit(req.socket);
    const completed = Promise.withResolvers<void>();
    completed.promise.catch(() => {});
    res.once("finish", () => completed.resolve());
    res.once("close", () => completed.reject(new Error("the HTTP client went away")));
    let response: Response;
    try {
      const request = requestOf(req, this.#scheme);
      response = await this.#opts.fetch(request, {
        ...this.#env(req),
        completed: completed.promise,
      });
    } catch (err) {
      this.#opts.log.warn("admin request failed", { error: String(err) });
      response = new Response("bad request\n", { status: 400 });
    }
    await deliver(res, response, req.method === "HEAD");
  }

  async #onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Uint8Array): Promise<void> {
    this.#http?.admit(socket);
    this.#http?.track(socket);
    socket.on("error", () => {});
    let accepted: { protocol: string; onOpen: (socket: WebSocket) => void } | null = null;
    const marker = new Response(null, { status: 200 });
    const env: AdminEnv = {
      ...this.#env(req),
      upgradeWebSocket: (protocol, onOpen) => {
        accepted = { protocol, onOpen };
        return marker;
      },
    };
    let response: Response;
    try {
      response = await this.#opts.fetch(requestOf(req, this.#scheme), env);
    } catch (err) {
      this.#opts.log.warn("admin upgrade failed", { error: String(err) });
      response = new Response("bad request\n", { status: 400 });
    }
    const chosen = accepted as { protocol: string; onOpen: (s: WebSocket) => void } | null;
    if (!chosen || response !== marker || socket.destroyed) {
      if (!socket.destroyed) await rawResponse(socket, response);
      return;
    }
    this.#http?.acceptWebSocket(req, socket, head, chosen.protocol, (ws) => {
      ws.binaryType = "arraybuffer";
      chosen.onOpen(ws as unknown as WebSocket);
    });
  }
}
