/**
 * The CRI messages' codec: one schema-driven encoder and decoder shared by every message type
 * (plan.ts says why), equivalent to protobufjs's `fromObject` + `encode` and `decode` +
 * `toObject` with `cri/proto.ts`'s options. Types it cannot plan keep protobufjs.
 */
export { decodeMessage } from "./decode.ts";
export { encodeMessage, varintSize } from "./encode.ts";
export { type MessagePlan, planFor } from "./plan.ts";
