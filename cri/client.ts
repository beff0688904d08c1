/**
 * A typed CRI client over a unix socket (grpc-js), sending `:authority localhost` as
 * kubelet ≥ 1.30 and crictl do. Used by the tests, the benches and the operator CLI.
 */
import * as grpc from "@grpc/grpc-js";
import type { CriMethod, CriRpcs, DeepPartial } from "./handler.ts";
import { Buffer } from "node:buffer";
import { loadCriRoot, SERVICE_NAMES, type ServiceName, serviceRpcs } from "./proto.ts";

export interface CallOptions {
  /** Milliseconds until the call's deadline. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A failed call: the gRPC code (number and name) and the server's message. */
export class CriCallError extends Error {
  constructor(readonly code: grpc.status, readonly details: string, readonly method: string) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
    this.name = "CriCallError";
  }
  get codeName(): string {
    return grpc.status[this.code] ?? String(this.code);
  }
}

/** grpc-js service definition for one CRI service. */
function serviceDefinition(root: ReturnType<typeof loadCriRoot>, service: ServiceName) {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const rpc of serviceRpcs(root, service)) {
    def[rpc.name] = {
      path: rpc.path,
      requestStream: rpc.requestStream,
      responseStream: rpc.responseStream,
      requestSerialize: (v: unknown) => Buffer.from(rpc.request.encode(v)),
      requestDeserialize: (b: Buffer) => rpc.request.decode(b),
      responseSerialize: (v: unknown) => Buffer.from(rpc.response.encode(v)),
      responseDeserialize: (b: Buffer) => rpc.response.decode(b),
      originalName: rpc.name,
    };
  }
  return def as grpc.ServiceDefinition;
}

type Unary = {
  [M in CriMethod]: CriRpcs[M]["stream"] extends true ? never : M;
}[CriMethod];
type Streaming = Exclude<CriMethod, Unary>;

export class CriClient {
  private readonly clients = new Map<string, grpc.Client>();
  private readonly serviceOf = new Map<string, string>();

  constructor(readonly socket: string, options: grpc.ChannelOptions = {}) {
    const root = loadCriRoot();
    for (const service of SERVICE_NAMES) {
      const def = serviceDefinition(root, service);
      const Ctor = grpc.makeGenericClientConstructor(def, service);
      const client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure(), {
        "grpc.default_authority": "localhost",
        "grpc.max_receive_message_length": 16 * 1024 * 1024,
        ...options,
      });
      this.clients.set(service, client);
      for (const name of Object.keys(def)) this.serviceOf.set(name, service);
    }
  }

  private method(name: string): (...args: unknown[]) => unknown {
    const client = this.clients.get(this.serviceOf.get(name) ?? "");
    if (!client) throw new Error(`unknown CRI method ${name}`);
    const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[name];
    return fn.bind(client);
  }

  private callOptions(o: CallOptions): grpc.CallOptions {
    return o.timeoutMs !== undefined ? { deadline: Date.now() + o.timeoutMs } : {};
  }

  /** A unary call; rejects with CriCallError carrying the gRPC status. */
  call<M extends Unary>(
    method: M,
    req: DeepPartial<CriRpcs[M]["req"]> = {} as DeepPartial<CriRpcs[M]["req"]>,
    opts: CallOptions = {},
  ): Promise<CriRpcs[M]["res"]> {
    return new Promise((resolve, reject) => {
      const call = this.method(method)(
        req,
        new grpc.Metadata(),
        this.callOptions(opts),
        (err: grpc.ServiceError | null, res: CriRpcs[M]["res"]) => {
          if (err) reject(new CriCallError(err.code, err.details, method));
          else resolve(res);
        },
      ) as grpc.ClientUnaryCall;
      opts.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    });
  }

  /** A server-streaming call as an async iterator; breaking out of the loop cancels it. */
  async *stream<M extends Streaming>(
    method: M,
    req: DeepPartial<CriRpcs[M]["req"]> = {} as DeepPartial<CriRpcs[M]["req"]>,
    opts: CallOptions = {},
  ): AsyncGenerator<CriRpcs[M]["res"]> {
    const call = this.method(method)(
      req,
      new grpc.Metadata(),
      this.callOptions(opts),
    ) as grpc.ClientReadableStream<CriRpcs[M]["res"]>;
    opts.signal?.addEventListener("abort", () => call.cancel(), { once: true });
    try {
      for await (const msg of call) yield msg as CriRpcs[M]["res"];
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (typeof e.code === "number") throw new CriCallError(e.code, e.details, method);
      throw err;
    } finally {
      call.cancel();
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }
}
