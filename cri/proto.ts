/**
 * Loads the CRI schema (`cri/api.proto`) with protobufjs and builds grpc-js service
 * definitions whose codecs turn wire bytes into the plain objects typed in `cri/types.ts`.
 */
import protobuf from "protobufjs";
import type { MethodDefinition, ServiceDefinition } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";

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

/** grpc-js service definition for one CRI service. */
export function serviceDefinition(root: protobuf.Root, service: ServiceName): ServiceDefinition {
  const svc = root.lookupService(`${CRI_PACKAGE}.${service}`);
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = messageCodec<unknown>(m.resolvedRequestType!);
    const res = messageCodec<unknown>(m.resolvedResponseType!);
    def[m.name] = {
      path: `/${CRI_PACKAGE}.${service}/${m.name}`,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
      requestSerialize: (v: unknown) => Buffer.from(req.encode(v)),
      requestDeserialize: (b: Buffer) => req.decode(b),
      responseSerialize: (v: unknown) => Buffer.from(res.encode(v)),
      responseDeserialize: (b: Buffer) => res.decode(b),
      originalName: m.name,
    };
  }
  return def as ServiceDefinition;
}
