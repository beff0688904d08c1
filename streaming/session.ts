/**
 * What the SPDY and WebSocket sessions share (spdy_session.ts, ws_session.ts, both loaded at
 * the first stream): running exec/attach and forwarding one port against the backend, and
 * the raw HTTP answers given before a protocol is agreed.
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { StreamingRequest } from "./tokens.ts";
import {
  type CommandStreams,
  type DuplexStreams,
  ExitCodeError,
  type PortForwardRequest,
  type StreamingBackend,
} from "./types.ts";

/** What a session needs of its server. */
export interface SessionContext {
  backend: StreamingBackend;
  log: Logger;
  /** Time the client has to open its streams after the upgrade. */
  streamCreationTimeoutMs: number;
}

export type CommandRequest = Extract<StreamingRequest, { kind: "exec" | "attach" }>;

export function headerValues(req: http.IncomingMessage, name: string): string[] {
  const raw = req.headersDistinct?.[name] ?? [];
  return raw.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

export function rawHttpError(
  socket: Duplex,
  status: number,
  reason: string,
  body: string,
  extra = "",
) {
  const payload = new TextEncoder().encode(body + "\n");
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${payload.length}\r\n${extra}Connection: close\r\n\r\n` +
      new TextDecoder().decode(payload),
  );
}

/** Runs exec or attach; the error to report, or null on success. */
export async function runCommand(
  ctx: SessionContext,
  request: CommandRequest,
  streams: CommandStreams,
  signal: AbortSignal,
): Promise<Error | null> {
  try {
    if (request.kind === "exec") {
      const code = await ctx.backend.exec(request.req, streams, signal);
      return code === 0 ? null : new ExitCodeError(code, request.req.cmd);
    }
    await ctx.backend.attach(request.req, streams, signal);
    return null;
  } catch (err) {
    if (signal.aborted) return null;
    ctx.log.warn("streaming command failed", {
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

/** Forwards one connection; the error text for the client, or null. */
export async function forward(
  ctx: SessionContext,
  req: PortForwardRequest,
  port: number,
  conn: DuplexStreams,
  signal: AbortSignal,
): Promise<string | null> {
  try {
    if (req.ports.length && !req.ports.includes(port)) {
      throw new Error(`port ${port} was not requested for forwarding (allowed: ${req.ports})`);
    }
    await ctx.backend.portForward(req.podSandboxId, port, conn, signal);
    return null;
  } catch (err) {
    if (signal.aborted) return null;
    return `error forwarding port ${port} to pod ${req.podSandboxId}, uid : ${errorMessage(err)}`;
  } finally {
    await conn.writable.close().catch(() => {});
    await conn.readable.cancel().catch(() => {});
  }
}
