/**
 * The CRI gRPC server on a unix socket. Routes every RPC of both services: built ones to
 * their handler, the rest to UNIMPLEMENTED naming the RPC. Logs each call once, counts it
 * in the metrics, and turns any thrown value into a gRPC status (never a crash).
 */
import * as grpc from "@grpc/grpc-js";
import { dirname } from "node:path";
import type { Server as NetServer } from "node:net";
import { ListenerWatchdog } from "../core/connection_guard.ts";
import { FailedPreconditionError, UnimplementedError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { grpcCodeName, toGrpcStatus } from "./errors.ts";
import { AuthorityFront } from "./compat/authority_front.ts";
import type {
  CallContext,
  CriHandlers,
  CriMethod,
  StreamHandler,
  UnaryHandler,
} from "./handler.ts";
import { loadCriRoot, SERVICE_NAMES, serviceDefinition } from "./proto.ts";

/** What begin() needs of a unary or server-streaming call. */
interface CallLike {
  on(event: "cancelled", fn: () => void): unknown;
  removeListener(event: "cancelled", fn: () => void): unknown;
  getDeadline(): grpc.Deadline;
}

export interface CriServerOptions {
  socket: string;
  handlers: CriHandlers;
  metrics: MetricsRegistry;
  log: Logger;
  /**
   * When set, grpc-js binds this internal socket and an AuthorityFront serves `socket`,
   * rewriting old kubelets' socket-path `:authority` (see cri/compat/authority_front.ts).
   */
  internalSocket?: string;
}

/** Read-only RPCs that kubelet calls constantly: logged at debug when they succeed. */
const QUIET = /^(Version|Status|List|.*Status$|ImageFsInfo|.*Stats$|RuntimeConfig|Stream)/;

export class CriServer {
  private server?: grpc.Server;
  private front?: AuthorityFront;
  private watchdogs: ListenerWatchdog[] = [];
  private inflight = new Set<AbortController>();
  private readonly requests;
  private readonly latency;

  constructor(private readonly opts: CriServerOptions) {
    this.requests = opts.metrics.counter(
      "skiff_grpc_requests_total",
      "CRI gRPC calls by method and status code.",
    );
    this.latency = opts.metrics.histogram(
      "skiff_grpc_request_duration_seconds",
      "CRI gRPC call latency by method and status code.",
    );
  }

  get socket(): string {
    return this.opts.socket;
  }

  async start(): Promise<void> {
    const socket = this.opts.socket;
    await Deno.mkdir(dirname(socket), { recursive: true });
    await clearStaleSocket(socket);
    // The internal socket is only ever ours: whatever is there is left from a previous run.
    const internal = this.opts.internalSocket;
    if (internal) {
      await Deno.mkdir(dirname(internal), { recursive: true });
      await Deno.remove(internal).catch(() => {});
    }
    const bindPath = internal ?? socket;
    const server = new grpc.Server({
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      "grpc.max_send_message_length": 16 * 1024 * 1024,
    });
    const root = loadCriRoot();
    for (const service of SERVICE_NAMES) {
      const def = serviceDefinition(root, service);
      const impl: grpc.UntypedServiceImplementation = {};
      for (const [name, method] of Object.entries(def)) {
        impl[name] = method.responseStream
          ? this.streamCall(name as CriMethod)
          : this.unaryCall(name as CriMethod);
      }
      server.addService(def, impl);
    }
    await new Promise<void>((resolve, reject) => {
      server.bindAsync(`unix://${bindPath}`, grpc.ServerCredentials.createInsecure(), (err) => {
        if (err) reject(err);
        else resolve();
      });
    });
    this.server = server;
    this.watchListeners(server, bindPath, internal ? 0o600 : 0o660);
    if (internal) {
      await Deno.chmod(internal, 0o600);
      const rewrites = this.opts.metrics.counter(
        "skiff_authority_rewrites_total",
        "HTTP/2 :authority values rewritten for kubelet/crictl < 1.30.",
      );
      const front = new AuthorityFront({
        socket,
        upstream: internal,
        log: this.opts.log,
        onRewrite: () => rewrites.inc({}),
        socketMode: 0o660,
      });
      try {
        await front.start();
      } catch (err) {
        server.forceShutdown();
        await Deno.remove(internal).catch(() => {});
        this.server = undefined;
        throw err;
      }
      this.front = front;
    }
    await Deno.chmod(socket, 0o660);
    this.opts.log.info("CRI server listening", { socket, authority_front: !!internal });
  }

  /**
   * Stops accepting calls, lets in-flight ones finish for up to `graceMs`, then cancels the
   * rest and removes the socket.
   */
  async stop(graceMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const w of this.watchdogs.splice(0)) w.stop();
    const front = this.front;
    this.front = undefined;
    front?.stopAccepting();
    const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
    });
    const late = await Promise.race([drained.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.opts.log.warn("in-flight CRI calls cancelled at shutdown", {
        calls: this.inflight.size,
      });
      for (const c of this.inflight) c.abort(new Error("Skiff is shutting down"));
      server.forceShutdown();
    }
    front?.closeConnections();
    await Deno.remove(this.opts.socket).catch(() => {});
    if (this.opts.internalSocket) await Deno.remove(this.opts.internalSocket).catch(() => {});
  }

  /**
   * Deno's node:net listeners accept nothing more once accept failed with EMFILE (see
   * core/connection_guard.ts); grpc-js's own are watched too. They are reached through
   * grpc-js's `http2Servers` field: in a version without it, they go unwatched.
   */
  private watchListeners(server: grpc.Server, path: string, mode: number): void {
    const listeners = (server as unknown as { http2Servers?: unknown }).http2Servers;
    if (!(listeners instanceof Map)) {
      this.opts.log.debug("grpc-js listeners not reachable; not watched");
      return;
    }
    for (const listener of listeners.keys() as IterableIterator<NetServer>) {
      this.watchdogs.push(
        new ListenerWatchdog(listener, {
          name: "CRI gRPC listener",
          intervalMs: 5000,
          log: this.opts.log,
          target: () => ({ path }),
          relisten: () => {
            listener.close();
            listener.listen(path, () => Deno.chmod(path, mode).catch(() => {}));
          },
        }),
      );
    }
  }

  private begin(method: CriMethod, call: CallLike) {
    const controller = new AbortController();
    this.inflight.add(controller);
    const onCancel = () => controller.abort(new Error("client cancelled the call"));
    call.on("cancelled", onCancel);
    const deadline = call.getDeadline();
    let timer: ReturnType<typeof setTimeout> | undefined;
    if (deadline instanceof Date || (typeof deadline === "number" && Number.isFinite(deadline))) {
      const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - Date.now();
      timer = setTimeout(() => controller.abort(new Error("deadline exceeded")), Math.max(0, ms));
    }
    const started = performance.now();
    const ctx: CallContext = { method, signal: controller.signal };
    const finish = (code: grpc.status, err?: unknown) => {
      clearTimeout(timer);
      call.removeListener("cancelled", onCancel);
      this.inflight.delete(controller);
      const seconds = (performance.now() - started) / 1000;
      const codeName = grpcCodeName(code);
      this.requests.inc({ method, code: codeName });
      this.latency.observe({ method, code: codeName }, seconds);
      const fields = { method, code: codeName, duration_ms: +(seconds * 1000).toFixed(3) };
      if (err === undefined) {
        if (QUIET.test(method)) this.opts.log.debug("rpc", fields);
        else this.opts.log.info("rpc", fields);
      } else if (code === grpc.status.INTERNAL || code === grpc.status.UNKNOWN) {
        this.opts.log.error("rpc", { ...fields, error: err });
      } else {
        this.opts.log.warn("rpc", { ...fields, error: err });
      }
    };
    return { ctx, finish };
  }

  private handlerFor(method: CriMethod): unknown {
    return this.opts.handlers[method] ??
      (() => {
        throw new UnimplementedError(`${method} is not implemented by Skiff yet`);
      });
  }

  private unaryCall(method: CriMethod): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => {
      const { ctx, finish } = this.begin(method, call);
      const handler = this.handlerFor(method) as UnaryHandler<CriMethod>;
      (async () => await handler(call.request as never, ctx))().then(
        (res) => {
          finish(grpc.status.OK);
          callback(null, res ?? {});
        },
        (err) => {
          const st = toGrpcStatus(err);
          finish(st.code, err);
          callback({ code: st.code, details: st.details, metadata: new grpc.Metadata() });
        },
      );
    };
  }

  private streamCall(method: CriMethod): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call) => {
      const { ctx, finish } = this.begin(method, call);
      const handler = this.handlerFor(method) as StreamHandler<CriMethod>;
      const send = async (msg: unknown) => {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (!call.write(msg)) {
          // Backpressure: wait for the transport to drain before producing more.
          await new Promise<void>((resolve) => {
            const done = () => {
              call.removeListener("drain", done);
              ctx.signal.removeEventListener("abort", done);
              resolve();
            };
            call.once("drain", done);
            ctx.signal.addEventListener("abort", done);
          });
        }
      };
      (async () => await handler(call.request as never, ctx, send as never))().then(
        () => {
          finish(grpc.status.OK);
          call.end();
        },
        (err) => {
          const st = toGrpcStatus(err);
          finish(st.code, err);
          if (!call.cancelled) call.emit("error", { code: st.code, details: st.details });
        },
      );
    };
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
