import assert from "node:assert/strict";
import type { ContainerUsage, PodUsage } from "../../runtime/stats/collector.ts";
import type { CgroupSample } from "../../runtime/stats/types.ts";
import type { ContainerForStats, SandboxForStats } from "../../runtime/contracts.ts";
import { containerStats, podSandboxStats } from "./stats.ts";
import { metricDescriptors, METRICS, podSandboxMetrics } from "./metrics.ts";

const AT = 1_700_000_000_000;
const NS = "1700000000000000000";

const cgroup: CgroupSample = {
  at: AT,
  cpu: { usageNs: 3_500_000_000n, psi: null },
  memory: {
    usageBytes: 100,
    workingSetBytes: 80,
    rssBytes: 60,
    pageFaults: 7,
    majorPageFaults: 1,
    limitBytes: null,
    availableBytes: null,
    psi: {
      some: { avg10: 1.5, avg60: 0, avg300: 0, totalNs: 12n },
      full: null,
    },
  },
  swap: null,
  pids: 3,
  ioPsi: null,
};

const container: ContainerForStats = {
  id: "c1",
  sandboxId: "p1",
  name: "app",
  attempt: 0,
  labels: { l: "1" },
  annotations: {},
  image: "busybox:latest",
  state: "CONTAINER_RUNNING",
  pid: 10,
  cgroupsPath: "/pod/c1",
  writableLayerDir: "/upper",
  startedAt: AT - 10_000,
};

const usage: ContainerUsage = {
  container,
  cgroup,
  cpuNanoCores: 250_000_000n,
  writableLayer: { at: AT, usedBytes: 4096, inodesUsed: 2 },
  writableLayerMount: "/var/lib/skiff",
};

const sandbox: SandboxForStats = {
  id: "p1",
  name: "web",
  uid: "u",
  namespace: "ns",
  attempt: 0,
  labels: {},
  annotations: {},
  state: "SANDBOX_READY",
  cgroupParent: "/pod",
  netnsPath: "/run/netns/x",
  hostNetwork: false,
};

const iface = (name: string, rx: number) => ({
  name,
  rxBytes: rx,
  rxPackets: 1,
  rxErrors: 0,
  rxDropped: 0,
  txBytes: 5,
  txPackets: 1,
  txErrors: 0,
  txDropped: 0,
});

const pod: PodUsage = {
  sandbox,
  cgroup,
  cpuNanoCores: null,
  network: [iface("lo", 1), iface("eth0", 100), iface("net1", 50)],
  containers: [usage],
};

Deno.test("containerStats: uint64 values, ns timestamps, absent parts null", () => {
  const s = containerStats(usage);
  assert.deepEqual(s.attributes, {
    id: "c1",
    metadata: { name: "app", attempt: 0 },
    labels: { l: "1" },
    annotations: {},
  });
  assert.deepEqual(s.cpu, {
    timestamp: NS,
    usage_core_nano_seconds: { value: "3500000000" },
    usage_nano_cores: { value: "250000000" },
    psi: null,
  });
  assert.equal(s.memory?.working_set_bytes?.value, "80");
  assert.equal(s.memory?.available_bytes, null);
  assert.deepEqual(s.memory?.psi, {
    Some: { Total: "12", Avg10: 1.5, Avg60: 0, Avg300: 0 },
    Full: null,
  });
  assert.equal(s.swap, null);
  assert.deepEqual(s.writable_layer, {
    timestamp: NS,
    fs_id: { mountpoint: "/var/lib/skiff" },
    used_bytes: { value: "4096" },
    inodes_used: { value: "2" },
  });
});

Deno.test("podSandboxStats: eth0 is the default interface and listed first, processes counted", () => {
  const s = podSandboxStats(pod);
  assert.equal(s.linux?.network?.default_interface?.name, "eth0");
  // every interface of the namespace, the default first (kubelet lists them all)
  assert.deepEqual(s.linux?.network?.interfaces?.map((i) => i?.name), ["eth0", "lo", "net1"]);
  assert.equal(s.linux?.network?.interfaces?.[0]?.rx_bytes?.value, "100");
  assert.deepEqual(s.linux?.process, { timestamp: NS, process_count: { value: "3" } });
  assert.equal(s.linux?.containers?.length, 1);
});

Deno.test("podSandboxMetrics: the pod as POD, loopback left out, whole seconds", () => {
  const m = podSandboxMetrics(pod, AT);
  const rx = m.metrics?.filter((x) => x?.name === METRICS.netRxBytes.desc.name);
  assert.deepEqual(rx?.map((x) => x?.label_values), [["p1", "POD", "", "eth0"], [
    "p1",
    "POD",
    "",
    "net1",
  ]]);
  const cpu = m.container_metrics?.[0]?.metrics?.find((x) =>
    x?.name === METRICS.cpuUsage.desc.name
  );
  assert.equal(cpu?.value?.value, "3");
  assert.deepEqual(cpu?.label_values, ["c1", "app", "busybox:latest", "total"]);
  const start = m.container_metrics?.[0]?.metrics?.find((x) =>
    x?.name === METRICS.startTime.desc.name
  );
  assert.equal(start?.value?.value, String((AT - 10_000) / 1000));
  assert.equal(metricDescriptors().length, Object.keys(METRICS).length);
});

Deno.test("podSandboxStats: no network message without a default interface (kubelet needs one)", () => {
  assert.equal(podSandboxStats({ ...pod, network: [iface("lo", 1)] }).linux?.network, null);
  assert.equal(podSandboxStats({ ...pod, network: [] }).linux?.network, null);
  assert.equal(podSandboxStats({ ...pod, network: null }).linux?.network, null);
});
