/** Pod sandboxes: public surface of runtime/sandbox/. */
export type { SandboxDeps } from "./context.ts";
export { SandboxService, type SandboxServiceOptions } from "./service.ts";
export { type SandboxFilter, type SandboxRecord } from "./records.ts";
export { type SandboxPhase, type SandboxState, stateOf } from "./state.ts";
export { parseBandwidth } from "./network.ts";
export { type UsernsSupport, usernsSupport } from "./userns_probe.ts";
