/**
 * The CRI gRPC server on a unix socket: Skiff's own HTTP/2 (cri/http2/) and gRPC framing
 * (cri/grpc/) on Deno's unix socket, one JS hop per call. Every RPC of both services is
 * routed: built ones to their handler, the rest to UNIMPLEMENTED naming the RPC
 * (cri/dispatch.ts).
 *
 * Any `:authority` is accepted, so kubelet and crictl older than 1.30 (which send the socket
 * path there, refused by nghttp2-based servers) work without a rewriting front.
 */
import { dirname } from "node:path";
import { isOutOfDescriptors } from "../core/connection_guard.ts";
import { FailedPreconditionError, UnavailableError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { ConnectionError } from "./http2/frames.ts";
import { Http2ServerConnection } from "./http2/connection.ts";
import { CallDispatcher } from "./dispatch.ts";
import { SocketConnection } from "./socket_connection.ts";
import type { CriHandlers } from "./handler.ts";
import { loadCriRoot, SERVICE_NAMES, serviceRpcs } from "./proto.ts";

export interface CriServerOptions {
  socket: string;
  handlers: CriHandlers;
  metrics: MetricsRegistry;
  log: Logger;
  /** Open connections at once; more are closed as they arrive (kubelet needs one or two). */
  maxConnections?: number;
}

const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Bytes written but not yet read by the client before its connection is dropped. */
const MAX_UNREAD_BYTES = 32 * 1024 * 1024;
/** A connection must send the HTTP/2 preface and SETTINGS within this time. */
const PREFACE_TIMEOUT_MS = 10_000;
/** After a failed accept (out of descriptors), the next try; clients wait in the backlog. */
const ACCEPT_RETRY_MS = 100;
/** What a valid `:authority` holds (RFC 3986 host[:port]); old kubelets send a path. */
const HOST_AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%[\]]+$/;

export class CriServer {
  private listener?: Deno.UnixListener;
  private accepting?: Promise<void>;
  private dispatcher?: CallDispatcher;
  private readonly connections = new Map<SocketConnection, Http2ServerConnection>();
  private readonly pathAuthorities;

  constructor(private readonly opts: CriServerOptions) {
    this.pathAuthorities = opts.metrics.counter(
      "skiff_authority_rewrites_total",
      "Calls whose HTTP/2 :authority was not a host (kubelet/crictl < 1.30 send the socket path); served as any other.",
    );
  }

  get socket(): string {
    return this.opts.socket;
  }

  async start(): Promise<void> {
    const socket = this.opts.socket;
    await Deno.mkdir(dirname(socket), { recursive: true });
    await clearStaleSocket(socket);
    const root = loadCriRoot();
    this.dispatcher = new CallDispatcher({
      handlers: this.opts.handlers,
      rpcs: SERVICE_NAMES.flatMap((service) => serviceRpcs(root, service)),
      metrics: this.opts.metrics,
      log: this.opts.log,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
    const listener = Deno.listen({ transport: "unix", path: socket });
    this.listener = listener;
    await Deno.chmod(socket, 0o660);
    this.accepting = this.acceptLoop(listener);
    this.opts.log.info("CRI server listening", { socket });
  }

  /**
   * Accepts until the listener is closed. Out of descriptors, accept fails: that is logged
   * once per episode and retried shortly (clients wait in the kernel's backlog), so kubelet
   * can always reconnect once descriptors are free again.
   */
  private async acceptLoop(listener: Deno.UnixListener): Promise<void> {
    let failing = false;
    for (;;) {
      let conn: Deno.UnixConn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (this.listener !== listener) return;
        if (!failing) {
          const what = isOutOfDescriptors(err) ? "out of file descriptors" : "accept failed";
          this.opts.log.warn(`CRI socket: ${what}; new connections wait`, { error: err });
        }
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (failing) this.opts.log.info("CRI socket: accepting connections again");
      failing = false;
      this.accept(conn);
    }
  }

  /**
   * Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then cancels the
   * rest, closes every connection and removes the socket.
   */
  async stop(graceMs: number): Promise<void> {
    const listener = this.listener;
    const dispatcher = this.dispatcher;
    if (!listener || !dispatcher) return;
    this.listener = undefined;
    listener.close();
    await this.accepting;
    for (const conn of this.connections.values()) conn.drain();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
    });
    const late = await Promise.race([dispatcher.idle().then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.opts.log.warn("in-flight CRI calls cancelled at shutdown", {
        calls: dispatcher.inflight.size,
      });
      for (const c of dispatcher.inflight) c.abort(new UnavailableError("Skiff is shutting down"));
    }
    for (const [socket, conn] of this.connections) {
      conn.close();
      socket.destroy();
    }
    this.connections.clear();
    await Deno.remove(this.opts.socket).catch(() => {});
  }

  private accept(client: Deno.UnixConn): void {
    const max = this.opts.maxConnections ?? 1024;
    if (!this.listener || this.connections.size >= max) {
      if (this.listener) {
        this.opts.log.warn("CRI connection refused: too many open", { max });
      }
      client.close();
      return;
    }
    const dispatcher = this.dispatcher!;
    const socket = new SocketConnection(client, {
      maxUnreadBytes: MAX_UNREAD_BYTES,
      prefaceTimeoutMs: PREFACE_TIMEOUT_MS,
      onClose: (closed) => this.connections.delete(closed),
    });
    const conn = new Http2ServerConnection(
      socket,
      (stream) => {
        if (!HOST_AUTHORITY.test(stream.header(":authority") ?? "localhost")) {
          this.pathAuthorities.inc({});
        }
        dispatcher.serve(stream);
      },
      undefined,
      (err: ConnectionError, cause?: unknown) => {
        if (cause === undefined) {
          this.opts.log.warn("closing a CRI connection that broke HTTP/2", { error: err.message });
        } else {
          this.opts.log.error("closing a CRI connection after an internal error", { error: cause });
        }
      },
    );
    this.connections.set(socket, conn);
    socket.serve(conn);
  }
}

/**
 * A socket file left by a dead process is replaced; one that a live process answers on is
 * refused, so two Skiffs never fight over one socket.
 */
export async function clearStaleSocket(socket: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(socket);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!info.isSocket) {
    throw new FailedPreconditionError(
      `${socket} exists and is not a socket; refusing to replace it (remove it, or set "socket" in the config)`,
    );
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path: socket });
    conn.close();
  } catch {
    await Deno.remove(socket);
    return;
  }
  throw new FailedPreconditionError(
    `another process is already serving on ${socket} (is Skiff already running?); stop it or choose another socket`,
  );
}
