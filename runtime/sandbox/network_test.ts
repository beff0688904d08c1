import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { PodSandboxConfig } from "../model.ts";
import { attachment, capabilityArgs, parseBandwidth } from "./network.ts";
import type { SandboxRecord } from "./records.ts";

const pod = (over: Partial<PodSandboxConfig> = {}): PodSandboxConfig => ({
  hostname: "",
  log_directory: "",
  port_mappings: [],
  labels: {},
  annotations: {},
  ...over,
});

Deno.test("bandwidth quantities in bits per second", () => {
  assert.equal(parseBandwidth(undefined), null);
  assert.equal(parseBandwidth(""), null);
  assert.equal(parseBandwidth("10M"), 10_000_000);
  assert.equal(parseBandwidth("1.5k"), 1500);
  assert.equal(parseBandwidth("1Gi"), 1024 ** 3);
  assert.throws(() => parseBandwidth("10 Mbit"), InvalidArgumentError);
});

Deno.test("capability args carry only what the pod asks for", () => {
  assert.deepEqual(capabilityArgs(pod(), []), {});
  const caps = capabilityArgs(
    pod({
      port_mappings: [
        { protocol: "UDP", container_port: 53, host_port: 5353, host_ip: "127.0.0.1" },
        { protocol: "TCP", container_port: 80, host_port: 0, host_ip: "" },
      ],
      dns_config: { servers: ["1.1.1.1"], searches: [], options: [] },
      annotations: { "kubernetes.io/egress-bandwidth": "1M" },
    }),
    ["10.0.0.0/24"],
  );
  assert.deepEqual(caps, {
    portMappings: [{ hostPort: 5353, containerPort: 53, protocol: "udp", hostIP: "127.0.0.1" }],
    dns: { servers: ["1.1.1.1"], searches: [], options: [] },
    bandwidth: { egressRate: 1_000_000, egressBurst: 2147483647 },
    ipRanges: [[{ subnet: "10.0.0.0/24" }]],
  });
});

Deno.test("the loopback attachment gets no capability args", () => {
  const rec = {
    id: "p1",
    name: "web",
    namespace: "ns",
    uid: "u",
    ns: { net: "/run/ns/p1-net", ipc: null, uts: null },
    capabilityArgs: { portMappings: [] },
  } as unknown as SandboxRecord;
  const eth0 = attachment(rec, "eth0");
  assert.equal(eth0.netnsPath, "/run/ns/p1-net");
  assert.deepEqual(eth0.capabilityArgs, { portMappings: [] });
  assert.deepEqual(eth0.args.find(([k]) => k === "K8S_POD_INFRA_CONTAINER_ID"), [
    "K8S_POD_INFRA_CONTAINER_ID",
    "p1",
  ]);
  assert.deepEqual(attachment(rec, "lo").capabilityArgs, {});
});
