/**
 * WebSocket sessions of the streaming server (loaded at the first WebSocket upgrade):
 * `channel.k8s.io`, `base64.channel.k8s.io`, their `v4.` forms and `v5.channel.k8s.io`
 * (stdin half-close), for remote command and port-forward.
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import type { WebSocket } from "ws";
import type { StreamingRequest } from "./tokens.ts";
import type { CommandStreams, DuplexStreams, PortForwardRequest } from "./types.ts";
import {
  finalErrorMessage,
  protocolVersion,
  resizeEvents,
  WS_PORT_FORWARD_PROTOCOLS,
  WS_PROTOCOLS,
} from "./protocols.ts";
import {
  type CommandRequest,
  forward,
  headerValues,
  rawHttpError,
  runCommand,
  type SessionContext,
} from "./session.ts";
import { WsChannels } from "./ws_channels.ts";

export interface WsSessionContext extends SessionContext {
  /** Completes the upgrade answering with `protocol` (null: none offered). */
  accept(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
    protocol: string | null,
    onOpen: (ws: WebSocket) => void,
  ): void;
}

/** Agrees on a subprotocol, accepts the WebSocket and serves the session on it. */
export function serveWebSocket(
  ctx: WsSessionContext,
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
  ctx.accept(req, socket, head, offered.length ? protocol : null, (ws) => {
    const channel = new WsChannels(ws, protocol);
    if (request.kind === "portforward") {
      wsPortForward(ctx, channel, request.req, ports);
    } else wsCommand(ctx, channel, request, protocolVersion(protocol));
  });
}

async function wsCommand(
  ctx: SessionContext,
  ch: WsChannels,
  request: CommandRequest,
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
  const err = await runCommand(ctx, request, streams, abort.signal);
  const msg = finalErrorMessage(version, err);
  if (msg) await ch.sendAsync(3, new TextEncoder().encode(msg)).catch(() => {});
  ch.close();
}

async function wsPortForward(
  ctx: SessionContext,
  ch: WsChannels,
  req: PortForwardRequest,
  ports: number[],
): Promise<void> {
  const abort = new AbortController();
  ch.onClose = () => abort.abort(new Error("client connection closed"));
  await Promise.all(ports.map(async (port, i) => {
    const prefix = new Uint8Array([port & 0xff, port >> 8]);
    ch.send(2 * i, prefix);
    ch.send(2 * i + 1, prefix);
    const conn: DuplexStreams = { readable: ch.readable(2 * i), writable: ch.writable(2 * i) };
    const message = await forward(ctx, req, port, conn, abort.signal);
    if (message) await ch.sendAsync(2 * i + 1, new TextEncoder().encode(message)).catch(() => {});
  }));
  ch.close();
}
