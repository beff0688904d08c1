import assert from "node:assert/strict";
import type { SandboxRecord } from "../../runtime/sandbox/mod.ts";
import { podSandboxEntry, podSandboxStatus } from "./sandbox.ts";

/** Only the fields the conversion reads; the rest of a record is the runtime's business. */
function record(over: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    id: "p1",
    name: "web",
    namespace: "default",
    uid: "u-1",
    attempt: 1,
    phase: "ready",
    createdAt: 1_700_000_000_123,
    runtimeHandler: "runc",
    config: { labels: { app: "web" }, annotations: { a: "b" } },
    namespaceModes: { network: "POD", pid: "CONTAINER", ipc: "POD" },
    ips: ["10.0.0.5", "fd00::5"],
    ...over,
  } as SandboxRecord;
}

Deno.test("podSandboxEntry: metadata, state, created_at in ns, labels", () => {
  assert.deepEqual(podSandboxEntry(record()), {
    id: "p1",
    metadata: { name: "web", namespace: "default", uid: "u-1", attempt: 1 },
    state: "SANDBOX_READY",
    created_at: "1700000000123000000",
    labels: { app: "web" },
    annotations: { a: "b" },
    runtime_handler: "runc",
  });
});

Deno.test("podSandboxStatus: first IP, the rest as additional, namespace modes", () => {
  const s = podSandboxStatus(record());
  assert.deepEqual(s.network, { ip: "10.0.0.5", additional_ips: [{ ip: "fd00::5" }] });
  assert.deepEqual(s.linux, {
    namespaces: { options: { network: "POD", pid: "CONTAINER", ipc: "POD" } },
  });
});

Deno.test("podSandboxStatus: a stopped pod reports no IPs", () => {
  const s = podSandboxStatus(record({ phase: "notready" }));
  assert.equal(s.state, "SANDBOX_NOTREADY");
  assert.deepEqual(s.network, { ip: "", additional_ips: [] });
});
