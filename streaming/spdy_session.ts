/**
 * SPDY/3.1 sessions of the streaming server (loaded at the first SPDY upgrade): remote
 * command (`v4.channel.k8s.io` … `channel.k8s.io`) and port-forward (`portforward.k8s.io`),
 * the protocols kubelet still speaks on this leg.
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import { RstStatus, SpdySession, type SpdyStream } from "./spdy.ts";
import type { StreamingRequest } from "./tokens.ts";
import type { CommandStreams, PortForwardRequest } from "./types.ts";
import {
  finalErrorMessage,
  protocolVersion,
  resizeEvents,
  SPDY_COMMAND_PROTOCOLS,
  SPDY_PORT_FORWARD_PROTOCOL,
  STREAM_PROTOCOL_HEADER,
  writeText,
} from "./protocols.ts";
import {
  type CommandRequest,
  forward,
  headerValues,
  rawHttpError,
  runCommand,
  type SessionContext,
} from "./session.ts";

/** Agrees on a protocol, answers 101 and serves the session on `socket`. */
export function serveSpdy(
  ctx: SessionContext,
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
    spdyPortForward(ctx, socket, head, request.req);
  } else {
    spdyCommand(ctx, socket, head, protocolVersion(protocol), request);
  }
}

function spdyCommand(
  ctx: SessionContext,
  socket: Duplex,
  head: Uint8Array,
  version: number,
  request: CommandRequest,
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
        ctx.log.debug("refusing unexpected stream", { type, kind: request.kind });
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
    ctx.streamCreationTimeoutMs,
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
      const err = await runCommand(ctx, request, streams, abort.signal);
      const msg = finalErrorMessage(version, err);
      await writeText(got.get("error")!.writable, msg ?? "");
      session.close();
    },
    (err: Error) => {
      clearTimeout(timer);
      ctx.log.info("streaming session ended before it started", {
        kind: request.kind,
        error: err.message,
      });
      session.destroy();
    },
  );
}

function spdyPortForward(
  ctx: SessionContext,
  socket: Duplex,
  head: Uint8Array,
  req: PortForwardRequest,
): void {
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
        ctx.log.debug("refusing port-forward stream", { type, port: s.headers.get("port") });
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
          }, ctx.streamCreationTimeoutMs),
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
        forwardPair(ctx, req, pair.port, pair.data, pair.error, abort.signal);
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

async function forwardPair(
  ctx: SessionContext,
  req: PortForwardRequest,
  port: number,
  data: SpdyStream,
  error: SpdyStream,
  signal: AbortSignal,
): Promise<void> {
  // The client never writes on the error stream.
  error.readable.cancel().catch(() => {});
  const message = await forward(ctx, req, port, data, signal);
  await writeText(error.writable, message ?? "");
}
