/**
 * The admin API's way into the domain services: the SAME `CriHandlers` map the gRPC server
 * routes to, called in-process. Requests and replies go through the CRI schema exactly as
 * on the wire (proto3 defaults filled in, int64 as decimal strings, enums as names), so a
 * handler sees the same shapes from both front doors, and admin code sees the same replies
 * as a gRPC client would.
 */
import type protobuf from "protobufjs";
import { UnimplementedError } from "../core/errors.ts";
import type {
  CriHandlers,
  CriMethod,
  CriRpcs,
  DeepPartial,
  StreamHandler,
} from "../cri/handler.ts";
import { CRI_PACKAGE, loadCriRoot, SERVICE_NAMES, TO_OBJECT_OPTIONS } from "../cri/proto.ts";

export type UnaryMethod = {
  [M in CriMethod]: CriRpcs[M]["stream"] extends true ? never : M;
}[CriMethod];
export type StreamMethod = Exclude<CriMethod, UnaryMethod>;
export type CriRequest<M extends CriMethod> = DeepPartial<CriRpcs[M]["req"]>;
export type CriReply<M extends CriMethod> = CriRpcs[M]["res"];

interface MethodTypes {
  req: protobuf.Type;
  res: protobuf.Type;
}

let methodTypes: Map<string, MethodTypes> | undefined;

function typesOf(method: CriMethod): MethodTypes {
  if (!methodTypes) {
    const root = loadCriRoot();
    methodTypes = new Map();
    for (const service of SERVICE_NAMES) {
      for (const m of root.lookupService(`${CRI_PACKAGE}.${service}`).methodsArray) {
        m.resolve();
        methodTypes.set(m.name, { req: m.resolvedRequestType!, res: m.resolvedResponseType! });
      }
    }
  }
  const t = methodTypes.get(method);
  if (!t) throw new UnimplementedError(`${method} is not a CRI method`);
  return t;
}

/** What the message would look like after a trip over the wire. */
function normalize<T>(type: protobuf.Type, value: unknown): T {
  return type.toObject(
    type.fromObject((value ?? {}) as Record<string, unknown>),
    TO_OBJECT_OPTIONS,
  ) as T;
}

function missing(method: CriMethod): never {
  throw new UnimplementedError(
    `${method} is not implemented by this Skiff build yet, so this admin route cannot answer; ` +
      `it will work once the ${method} CRI handler is available`,
  );
}

export class LocalCri {
  /** `handlers` is read at each call, so handlers added to the map later are used. */
  constructor(private readonly handlers: CriHandlers) {}

  has(method: CriMethod): boolean {
    return typeof this.handlers[method] === "function";
  }

  async call<M extends UnaryMethod>(
    method: M,
    req: CriRequest<M> = {} as CriRequest<M>,
    signal: AbortSignal = new AbortController().signal,
  ): Promise<CriReply<M>> {
    const handler = this.handlers[method] as
      | ((r: unknown, ctx: { method: CriMethod; signal: AbortSignal }) => Promise<unknown>)
      | undefined;
    if (!handler) missing(method);
    const types = typesOf(method);
    const res = await handler(normalize(types.req, req), { method, signal });
    return normalize<CriReply<M>>(types.res, res);
  }

  /**
   * A server-streaming RPC as an async iterator. The handler's `send` resolves only when
   * the consumer has taken the message, so a slow HTTP client slows the producer instead
   * of growing a queue; leaving the loop aborts the handler.
   */
  async *stream<M extends StreamMethod>(
    method: M,
    req: CriRequest<M> = {} as CriRequest<M>,
    signal?: AbortSignal,
  ): AsyncGenerator<CriReply<M>> {
    const handler = this.handlers[method] as StreamHandler<M> | undefined;
    if (!handler) missing(method);
    const types = typesOf(method);
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });

    type Slot = { value: CriReply<M>; taken: () => void };
    const queue: Slot[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const send = (msg: unknown) =>
      new Promise<void>((resolve, reject) => {
        if (controller.signal.aborted) return reject(controller.signal.reason);
        queue.push({ value: normalize<CriReply<M>>(types.res, msg), taken: resolve });
        notify();
      });
    handler(normalize(types.req, req), { method, signal: controller.signal }, send as never).then(
      () => {
        finished = true;
        notify();
      },
      (err) => {
        finished = true;
        failure = err;
        notify();
      },
    );
    try {
      while (true) {
        const slot = queue.shift();
        if (slot) {
          slot.taken();
          yield slot.value;
          continue;
        }
        if (finished) {
          if (failure !== undefined) throw failure;
          return;
        }
        if (controller.signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
          controller.signal.addEventListener("abort", () => resolve(), { once: true });
        });
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      controller.abort(new Error("the admin client stopped reading the stream"));
      for (const s of queue) s.taken();
    }
  }
}
