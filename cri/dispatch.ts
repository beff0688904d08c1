/**
 * One gRPC call on one HTTP/2 stream: checks the request, reads its message, runs the
 * handler with a signal that ends on cancel, deadline or shutdown, and answers with the
 * reply or the status its error maps to (cri/errors.ts). Logs and counts every call.
 */
import { CancelledError, DeadlineExceededError, UnimplementedError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import { Turns } from "../core/turns.ts";
import type { MetricsRegistry } from "../core/metrics.ts";
import { ErrorCode } from "./http2/frames.ts";
import type { ServerStream } from "./http2/stream.ts";
import { grpcCodeName, GrpcStatus, toGrpcStatus } from "./errors.ts";
import type {
  CallContext,
  CriHandlers,
  CriMethod,
  StreamHandler,
  UnaryHandler,
} from "./handler.ts";
import type { RpcDescriptor } from "./proto.ts";
import {
  fillPrefix,
  GrpcWireError,
  httpStatusOnly,
  MESSAGE_PREFIX_LENGTH,
  MessageReader,
  OK_TRAILERS,
  parseTimeout,
  RESPONSE_HEADERS,
  statusTrailers,
  trailersOnly,
} from "./grpc/wire.ts";

/**
 * Read-only RPCs that kubelet calls constantly: started as soon as their request is read, and
 * logged at debug when they succeed.
 */
const READ_ONLY = /^(Version|Status|List|.*Status$|ImageFsInfo|.*Stats$|RuntimeConfig|Stream)/;

export interface DispatcherOptions {
  handlers: CriHandlers;
  rpcs: readonly RpcDescriptor[];
  metrics: MetricsRegistry;
  log: Logger;
  maxMessageBytes: number;
}

export class CallDispatcher {
  private readonly routes = new Map<string, RpcDescriptor>();
  /** The methods READ_ONLY names, matched once here rather than twice on every call. */
  private readonly readOnly = new Set<string>();
  private readonly requests;
  private readonly latency;
  /** Calls being served: aborted on shutdown when they outlive the grace period. */
  readonly inflight = new Set<AbortController>();
  private idleWaiters: (() => void)[] = [];
  /**
   * The other calls (they change state, most spawn processes) start one per turn of the
   * event loop, in arrival order. Started as their requests were read, a burst's synchronous
   * first steps ran back to back and every read of the same burst waited for all of them.
   */
  private readonly turns = new Turns();

  constructor(private readonly opts: DispatcherOptions) {
    for (const rpc of opts.rpcs) {
      this.routes.set(rpc.path, rpc);
      if (READ_ONLY.test(rpc.name)) this.readOnly.add(rpc.name);
    }
    this.requests = opts.metrics.counter(
      "skiff_grpc_requests_total",
      "CRI gRPC calls by method and status code.",
    );
    this.latency = opts.metrics.histogram(
      "skiff_grpc_request_duration_seconds",
      "CRI gRPC call latency by method and status code.",
    );
  }

  /**
   * Starts a call whose request was read: reads at once, the rest in turn, and a state
   * change not while its own connection's replies wait for the client's window (for a
   * while: see core/turns.ts).
   */
  start(method: string, run: () => void, stream: ServerStream): void {
    if (this.readOnly.has(method)) run();
    else this.turns.run(run, stream.connection);
  }

  /** Resolves when no call is in flight. */
  idle(): Promise<void> {
    if (this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  serve(stream: ServerStream): void {
    if (stream.header(":method") !== "POST") return refuseHttp(stream, 405);
    if (!/^application\/grpc(\+proto)?(;.*)?$/.test(stream.header("content-type") ?? "")) {
      return refuseHttp(stream, 415);
    }
    const path = stream.header(":path") ?? "";
    const rpc = this.routes.get(path);
    if (!rpc) {
      stream.sendHeaders(trailersOnly(GrpcStatus.UNIMPLEMENTED, unknownPathMessage(path)), true);
      stream.done();
      return;
    }
    new Call(this, stream, rpc).start();
  }

  handlerFor(method: string): unknown {
    return this.opts.handlers[method as CriMethod] ??
      (() => {
        throw new UnimplementedError(`${method} is not implemented by Skiff yet`);
      });
  }

  get maxMessageBytes(): number {
    return this.opts.maxMessageBytes;
  }

  /** Counts and logs a finished call. */
  record(method: string, code: GrpcStatus, startedMs: number, err?: unknown): void {
    const seconds = (performance.now() - startedMs) / 1000;
    const codeName = grpcCodeName(code);
    this.requests.inc({ method, code: codeName });
    this.latency.observe({ method, code: codeName }, seconds);
    const fields = { method, code: codeName, duration_ms: +(seconds * 1000).toFixed(3) };
    const log = this.opts.log;
    if (err === undefined || code === GrpcStatus.CANCELLED) {
      // A cancel is the client's choice (and a flood of them must not flood the log).
      if (err !== undefined) log.debug("rpc", { ...fields, error: err });
      else if (this.readOnly.has(method)) log.debug("rpc", fields);
      else log.info("rpc", fields);
    } else if (code === GrpcStatus.INTERNAL || code === GrpcStatus.UNKNOWN) {
      log.error("rpc", { ...fields, error: err });
    } else {
      log.warn("rpc", { ...fields, error: err });
    }
  }

  /** Replying failed (a bug, not the client's doing): the stream is reset and logged. */
  replyFailed(stream: ServerStream, method: string, err: unknown): void {
    this.opts.log.error("could not send a CRI reply", { method, error: err });
    stream.reset(ErrorCode.INTERNAL_ERROR);
    stream.done();
  }

  callEnded(controller: AbortController): void {
    this.inflight.delete(controller);
    if (this.inflight.size === 0) { for (const w of this.idleWaiters.splice(0)) w(); }
  }
}

function refuseHttp(stream: ServerStream, status: number): void {
  stream.sendHeaders(httpStatusOnly(status), true);
  stream.done();
}

/** grpc-go's wording, which clients and people already know. */
function unknownPathMessage(path: string): string {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return `malformed method name: "${path.slice(0, 200)}"`;
  if (m[1] === "runtime.v1.RuntimeService" || m[1] === "runtime.v1.ImageService") {
    return `unknown method ${m[2].slice(0, 200)} for service ${m[1]}`;
  }
  return `unknown service ${m[1].slice(0, 200)}`;
}

class Call {
  private readonly controller = new AbortController();
  private readonly started = performance.now();
  private readonly reader: MessageReader;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private finished = false;
  /** The request was read and the handler started (it ends the call itself). */
  private running = false;

  constructor(
    private readonly dispatcher: CallDispatcher,
    private readonly stream: ServerStream,
    private readonly rpc: RpcDescriptor,
  ) {
    this.reader = new MessageReader(dispatcher.maxMessageBytes);
  }

  start(): void {
    this.dispatcher.inflight.add(this.controller);
    const stream = this.stream;
    stream.onAbort = (reason) => {
      const err = new CancelledError(reason);
      this.controller.abort(err);
      // Before the request was complete no handler runs that would end the call.
      if (!this.running) this.fail(err);
    };
    try {
      const timeoutMs = parseTimeout(stream.header("grpc-timeout"));
      if (timeoutMs !== undefined) {
        this.timer = setTimeout(
          () => this.controller.abort(new DeadlineExceededError("deadline exceeded")),
          Math.max(0, timeoutMs),
        );
      }
    } catch (err) {
      return this.fail(err);
    }
    stream.onData = (chunk) => {
      if (this.finished) return;
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.fail(err);
      }
    };
    stream.onEnd = () => {
      if (this.finished) return;
      // A call cancelled while it waited its turn has already failed: it never starts.
      this.dispatcher.start(this.rpc.name, () => this.finished || this.run(), stream);
    };
  }

  private run(): void {
    this.running = true;
    let request: unknown;
    try {
      this.reader.end();
      if (this.reader.messages.length !== 1) {
        throw new GrpcWireError(
          GrpcStatus.UNIMPLEMENTED,
          `${this.rpc.name} takes one request message, got ${this.reader.messages.length}`,
        );
      }
      request = this.decode(this.reader.messages[0]);
    } catch (err) {
      return this.fail(err);
    }
    const ctx: CallContext = { method: this.rpc.name as CriMethod, signal: this.controller.signal };
    const handler = this.dispatcher.handlerFor(this.rpc.name);
    const work = this.rpc.responseStream
      ? this.runStream(handler as StreamHandler<CriMethod>, request, ctx)
      : this.runUnary(handler as UnaryHandler<CriMethod>, request, ctx);
    work.then((reply) => this.succeed(reply), (err) => this.fail(err)).catch((err) =>
      // A fault in replying must cost this call, never the daemon (an unhandled rejection
      // ends a Deno process).
      this.dispatcher.replyFailed(this.stream, this.rpc.name, err)
    );
  }

  private decode(bytes: Uint8Array): unknown {
    try {
      return this.rpc.request.decode(bytes);
    } catch (err) {
      // grpc-go's code and words (what containerd answers to the same bytes).
      throw new GrpcWireError(
        GrpcStatus.INTERNAL,
        `grpc: error unmarshalling request: ${(err as Error).message}`,
      );
    }
  }

  /** The reply's message; sent with the headers and trailers in one write by succeed(). */
  private async runUnary(handler: UnaryHandler<CriMethod>, req: unknown, ctx: CallContext) {
    const res = await handler(req as never, ctx);
    return fillPrefix(this.rpc.response.encode(res ?? {}, MESSAGE_PREFIX_LENGTH));
  }

  private async runStream(
    handler: StreamHandler<CriMethod>,
    req: unknown,
    ctx: CallContext,
  ): Promise<undefined> {
    this.stream.sendHeaders(RESPONSE_HEADERS);
    const send = async (msg: unknown) => {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      this.stream.sendData(fillPrefix(this.rpc.response.encode(msg, MESSAGE_PREFIX_LENGTH)));
      // Backpressure: a client that stops reading holds the producer, not Skiff's memory.
      await this.stream.drained();
    };
    await handler(req as never, ctx, send as never);
    return undefined;
  }

  private succeed(reply: Uint8Array | undefined): void {
    if (this.finished) return;
    this.end(GrpcStatus.OK);
    if (reply && !this.stream.aborted) {
      this.stream.sendResponse(RESPONSE_HEADERS, reply, OK_TRAILERS);
    } else this.stream.sendTrailers(OK_TRAILERS);
    this.stream.done();
  }

  private fail(err: unknown): void {
    if (this.finished) return;
    const { code, details } = err instanceof GrpcWireError
      ? { code: err.code, details: err.message }
      : toGrpcStatus(err);
    const aborted = this.stream.aborted;
    this.end(aborted ? GrpcStatus.CANCELLED : code, err);
    if (!aborted) {
      if (this.stream.headersSent) this.stream.sendTrailers(statusTrailers(code, details));
      else this.stream.sendHeaders(trailersOnly(code, details), true);
    }
    this.stream.done();
  }

  private end(code: GrpcStatus, err?: unknown): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.dispatcher.callEnded(this.controller);
    this.dispatcher.record(this.rpc.name, code, this.started, err);
  }
}
