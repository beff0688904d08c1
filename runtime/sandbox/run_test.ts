import assert from "node:assert/strict";
import { defaultConfig } from "../../core/config/mod.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { PodSandboxConfig } from "../model.ts";
import { newRecord, planRun } from "./run.ts";

/** A pod config; `linux` may be partial (only the fields a test is about). */
function pod(
  over: Omit<Partial<PodSandboxConfig>, "linux"> & { linux?: Record<string, unknown> } = {},
): PodSandboxConfig {
  const { linux, ...rest } = over;
  return {
    metadata: { name: "web", namespace: "default", uid: "u1", attempt: 2 },
    hostname: "",
    log_directory: "/var/log/pods/x",
    port_mappings: [],
    labels: {},
    annotations: {},
    ...rest,
    linux: linux as PodSandboxConfig["linux"],
  };
}

function refused(fn: () => unknown, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.match(e.message, msg);
    return true;
  });
}

Deno.test("planRun: defaults to the default handler and pod-scoped namespaces", () => {
  const daemon = defaultConfig();
  const plan = planRun(pod(), "", daemon);
  assert.equal(plan.handler, daemon.runtime.default_handler);
  assert.deepEqual(plan.modes, { network: "POD", pid: "POD", ipc: "POD" });
  assert.equal(plan.hostNetwork, false);
  assert.equal(plan.hostIpc, false);
  assert.deepEqual(plan.metadata, { name: "web", namespace: "default", uid: "u1", attempt: 2 });
  assert.equal(plan.resolvText, null);
});

Deno.test("planRun: an unknown handler is INVALID_ARGUMENT naming it and the configured ones", () => {
  const daemon = defaultConfig();
  const configured = Object.keys(daemon.runtime.handlers).join(", ");
  refused(
    () => planRun(pod(), "kata", daemon),
    new RegExp(`unknown runtime handler "kata"; configured handlers: ${configured}`),
  );
});

Deno.test("planRun: every bad input is refused before anything is made", () => {
  const daemon = defaultConfig();
  refused(() => planRun(pod({ metadata: null }), "", daemon), /must set name, namespace, uid/);
  refused(
    () => planRun(pod({ metadata: { name: "a", namespace: "", uid: "", attempt: 0 } }), "", daemon),
    /must set namespace, uid/,
  );
  refused(
    () => planRun(pod({ linux: { sysctls: { "vm.swappiness": "1" } } }), "", daemon),
    /not namespaced/,
  );
  refused(
    () =>
      planRun(
        pod({
          port_mappings: [{ protocol: "TCP", container_port: 0, host_port: 80, host_ip: "" }],
        }),
        "",
        daemon,
      ),
    /ports must be 1-65535/,
  );
  refused(
    () => planRun(pod({ annotations: { "kubernetes.io/ingress-bandwidth": "fast" } }), "", daemon),
    /not a quantity/,
  );
  daemon.runtime.handlers.runc.user_namespaces = false;
  refused(
    () =>
      planRun(
        pod({
          linux: {
            security_context: {
              namespace_options: {
                network: "POD",
                pid: "POD",
                ipc: "POD",
                target_id: "",
                userns_options: {
                  mode: "POD",
                  uids: [{ container_id: 0, host_id: 65536, length: 65536 }],
                  gids: [{ container_id: 0, host_id: 65536, length: 65536 }],
                },
              },
            },
          },
        }),
        "",
        daemon,
      ),
    /does not support user namespaces/,
  );
});

Deno.test("planRun: host-network pods ignore bandwidth annotations (no attachment)", () => {
  const plan = planRun(
    pod({
      annotations: { "kubernetes.io/ingress-bandwidth": "fast" },
      linux: {
        security_context: {
          namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD", target_id: "" },
        },
      },
    }),
    "",
    defaultConfig(),
  );
  assert.equal(plan.hostNetwork, true);
});

Deno.test("planRun: an overlong hostname is refused, not cut short", () => {
  refused(
    () => planRun(pod({ hostname: "h".repeat(70) }), "", defaultConfig()),
    /hostname "h+" is longer than 64 characters/,
  );
});

Deno.test("newRecord: a half-made record that owns nothing yet", () => {
  const config = pod({
    metadata: { name: "h".repeat(70), namespace: "default", uid: "u1", attempt: 2 },
  });
  const plan = planRun(config, "", defaultConfig());
  const rec = newRecord(plan, config, {
    id: "abc",
    sandboxesDir: "/s",
    nodeHostname: () => "node",
  });
  assert.equal(rec.phase, "creating");
  assert.equal(rec.hostname, "h".repeat(63));
  assert.equal(rec.dir, "/s/abc");
  assert.equal(rec.hostsPath, "/s/abc/hosts");
  assert.deepEqual(rec.ns, { net: null, ipc: null, uts: null });
  assert.equal(rec.networkAttached, false);
  assert.equal(rec.infra, null);
  assert.equal(rec.attempt, 2);
});
