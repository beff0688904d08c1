import assert from "node:assert/strict";
import type { ContainerConfig, PodSandboxConfig } from "../types.ts";
import type { DeepPartial } from "../handler.ts";
import { loadCriRoot, messageCodec } from "../proto.ts";
import { containerConfig, optionalLinuxResources, podSandboxConfig, pullAuth } from "./config.ts";

/** A message as the server hands it to a handler: encoded, then decoded with defaults. */
function decoded<T>(type: string, value: unknown): T {
  const codec = messageCodec<T>(loadCriRoot().lookupType(`runtime.v1.${type}`));
  return codec.decode(codec.encode(value));
}

const WINDOWS_CONTAINER = {
  resources: { cpu_shares: "2", memory_limit_in_bytes: "1024" },
  security_context: { run_as_username: "ContainerAdministrator", host_process: true },
};

const CONTAINER: DeepPartial<ContainerConfig> = {
  metadata: { name: "app", attempt: 2 },
  image: { image: "busybox:latest", annotations: { a: "b" } },
  command: ["sh"],
  args: ["-c", "sleep 1"],
  working_dir: "/w",
  envs: [{ key: "A", value: new TextEncoder().encode("1") }],
  mounts: [{
    container_path: "/data",
    host_path: "/srv",
    readonly: true,
    propagation: "PROPAGATION_BIDIRECTIONAL",
    uidMappings: [{ host_id: 1000, container_id: 0, length: 1 }],
    image: { image: "vol:1" },
  }],
  devices: [{ container_path: "/dev/x", host_path: "/dev/null", permissions: "rw" }],
  labels: { l: "1" },
  annotations: { n: "2" },
  log_path: "app/0.log",
  stdin: true,
  tty: true,
  linux: {
    resources: { cpu_quota: "50000", hugepage_limits: [{ page_size: "2MB", limit: "0" }] },
    security_context: {
      capabilities: { add_capabilities: ["NET_ADMIN"] },
      run_as_user: { value: "1000" },
      namespace_options: { pid: "CONTAINER", userns_options: { mode: "POD" } },
      seccomp: { profile_type: "Localhost", localhost_ref: "/p.json" },
      masked_paths: ["/proc/kcore"],
      supplemental_groups: ["5"],
    },
  },
  CDI_devices: [{ name: "vendor.com/gpu=0" }],
  stop_signal: "SIGINT",
};

Deno.test("containerConfig leaves the Windows part out and keeps every other field", () => {
  const wire = decoded<ContainerConfig>("ContainerConfig", {
    ...CONTAINER,
    windows: WINDOWS_CONTAINER,
  });
  assert.ok(wire.windows, "the decoded message carries the Windows config");
  const model = containerConfig(wire);
  assert.equal("windows" in model, false);
  const { windows: _, ...rest } = wire;
  assert.deepEqual(model, rest);
});

Deno.test("podSandboxConfig leaves the Windows part out and keeps every other field", () => {
  const given: DeepPartial<PodSandboxConfig> = {
    metadata: { name: "p", uid: "u", namespace: "ns", attempt: 1 },
    hostname: "h",
    log_directory: "/var/log/pods/x",
    dns_config: { servers: ["1.1.1.1"], searches: ["svc"], options: ["ndots:5"] },
    port_mappings: [{ protocol: "UDP", container_port: 53, host_port: 5353, host_ip: "::" }],
    labels: { app: "x" },
    linux: {
      cgroup_parent: "/kubepods",
      sysctls: { "net.ipv4.ip_forward": "1" },
      security_context: { privileged: true, namespace_options: { network: "NODE" } },
      overhead: { cpu_shares: "2" },
    },
    windows: { security_context: { run_as_username: "u", host_process: true } },
  };
  const wire = decoded<PodSandboxConfig>("PodSandboxConfig", given);
  const model = podSandboxConfig(wire);
  assert.equal("windows" in model, false);
  const { windows: _, ...rest } = wire;
  assert.deepEqual(model, rest);
});

Deno.test("a partial in-process config gets the wire's defaults", () => {
  const model = containerConfig({ metadata: { name: "a" } });
  const wire = decoded<ContainerConfig>("ContainerConfig", { metadata: { name: "a" } });
  const { windows: _, ...rest } = wire;
  assert.deepEqual(model, rest);
  assert.equal(model.stop_signal, "RUNTIME_DEFAULT");
  assert.deepEqual(model.command, []);
  assert.equal(model.linux, null);
});

Deno.test("fields a newer CRI might add do not reach the model", () => {
  const given = { metadata: { name: "a", future: 1 }, future_field: "x" } as DeepPartial<
    ContainerConfig
  >;
  const model = containerConfig(given);
  assert.equal("future_field" in model, false);
  assert.deepEqual(model.metadata, { name: "a", attempt: 0 });
});

Deno.test("update resources: absent stays null, present gets defaults", () => {
  assert.equal(optionalLinuxResources(null), null);
  assert.equal(optionalLinuxResources(undefined), null);
  const r = optionalLinuxResources({ memory_limit_in_bytes: "1048576" });
  assert.equal(r?.memory_limit_in_bytes, "1048576");
  assert.equal(r?.cpu_quota, "0");
  assert.deepEqual(r?.unified, {});
});

Deno.test("pullAuth: credentials without the server address; none stays null", () => {
  assert.equal(pullAuth(null), null);
  assert.deepEqual(pullAuth({ username: "u", password: "p", server_address: "r.example" }), {
    username: "u",
    password: "p",
    auth: "",
    identity_token: "",
    registry_token: "",
  });
});
