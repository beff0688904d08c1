/** Temporary: runtime/container.ts still imports this path; the spec lives in ./spec/. */
export * from "./spec/mod.ts";
