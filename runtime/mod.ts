/** Pods and containers: public surface of runtime/. */
export { findBinary, type RuntimeReadiness, runtimeReadiness } from "./binaries.ts";
export { type SandboxRecord, SandboxService } from "./sandbox/mod.ts";
