/**
 * Loads the CRI schema (`cri/api.proto`) with protobufjs and describes its RPCs, with codecs
 * that turn wire bytes into the plain objects typed in `cri/types.ts`.
 */
import protobuf from "protobufjs";

export const CRI_PACKAGE = "runtime.v1";
export const SERVICE_NAMES = ["RuntimeService", "ImageService"] as const;
export type ServiceName = typeof SERVICE_NAMES[number];

/** Decoding options; `cri/types.ts` is generated to match them. */
export const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Uint8Array as unknown as typeof String,
  defaults: true,
  arrays: true,
  objects: true,
};

export const PROTO_URL = new URL("./api.proto", import.meta.url);

let cachedRoot: protobuf.Root | undefined;

export function loadCriRoot(text?: string): protobuf.Root {
  if (text === undefined && cachedRoot) return cachedRoot;
  const root = protobuf.parse(text ?? Deno.readTextFileSync(PROTO_URL), { keepCase: true }).root;
  root.resolveAll();
  if (text === undefined) cachedRoot = root;
  return root;
}

export interface MessageCodec<T> {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): T;
}

export function messageCodec<T>(type: protobuf.Type): MessageCodec<T> {
  return {
    encode: (value) => {
      const msg = type.fromObject((value ?? {}) as Record<string, unknown>);
      return type.encode(msg).finish();
    },
    decode: (bytes) => type.toObject(type.decode(bytes), TO_OBJECT_OPTIONS) as T,
  };
}

/** One RPC of the CRI services, as the server routes it. */
export interface RpcDescriptor {
  /** The method's name, e.g. `ListContainers`. */
  name: string;
  /** `/runtime.v1.RuntimeService/ListContainers`: the HTTP/2 `:path`. */
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  request: MessageCodec<unknown>;
  response: MessageCodec<unknown>;
}

/** Every RPC of one CRI service. */
export function serviceRpcs(root: protobuf.Root, service: ServiceName): RpcDescriptor[] {
  const svc = root.lookupService(`${CRI_PACKAGE}.${service}`);
  return svc.methodsArray.map((m) => {
    m.resolve();
    return {
      name: m.name,
      path: `/${CRI_PACKAGE}.${service}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      request: messageCodec<unknown>(m.resolvedRequestType!),
      response: messageCodec<unknown>(m.resolvedResponseType!),
    };
  });
}
