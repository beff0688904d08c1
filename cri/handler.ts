/** Types shared by the CRI handlers and the server that routes to them. */
import type { ImageServiceRpcs, RuntimeServiceRpcs } from "./types.ts";

export type CriRpcs = RuntimeServiceRpcs & ImageServiceRpcs;
export type CriMethod = keyof CriRpcs;

/** Replies may leave out any field: the encoder fills in proto3 defaults. */
export type DeepPartial<T> = T extends Uint8Array ? T
  : T extends (infer E)[] ? DeepPartial<E>[]
  : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> | null }
  : T;

export interface CallContext {
  method: CriMethod;
  /** Aborted when the client cancels, its deadline passes, or Skiff shuts down. */
  signal: AbortSignal;
}

export type Req<M extends CriMethod> = CriRpcs[M]["req"];
export type Res<M extends CriMethod> = DeepPartial<CriRpcs[M]["res"]>;

export type UnaryHandler<M extends CriMethod> = (req: Req<M>, ctx: CallContext) => Promise<Res<M>>;
export type StreamHandler<M extends CriMethod> = (
  req: Req<M>,
  ctx: CallContext,
  send: (msg: Res<M>) => Promise<void>,
) => Promise<void>;

export type HandlerFor<M extends CriMethod> = CriRpcs[M]["stream"] extends true ? StreamHandler<M>
  : UnaryHandler<M>;

export type CriHandlers = { [M in CriMethod]?: HandlerFor<M> };

/** Kept here for callers that take it with the handler types (cri/handlers/events.ts). */
export { nanos } from "./convert/values.ts";
