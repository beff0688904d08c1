/** Pure logic: pod sums, resource validation/conversion/merging, cAdvisor descriptors. */
import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { LinuxContainerResources } from "../../cri/types.ts";
import { METRICS } from "../../cri/handlers/stats.ts";
import { mergeCriResources } from "../../runtime/maintenance.ts";
import { mergeResources, toOciResources } from "../../runtime/spec/mod.ts";
import { type CgroupSample, sumSamples } from "../../runtime/stats/mod.ts";

const sample = (cpu: bigint, mem: number, limit: number | null): CgroupSample => ({
  at: 1000,
  cpu: { usageNs: cpu, psi: null },
  memory: {
    usageBytes: mem,
    workingSetBytes: mem - 10,
    rssBytes: mem - 20,
    pageFaults: 5,
    majorPageFaults: 1,
    limitBytes: limit,
    availableBytes: limit === null ? null : limit - (mem - 10),
    psi: null,
  },
  swap: null,
  pids: 2,
  ioPsi: null,
});

Deno.test("a pod without its own cgroup is the sum of its containers", () => {
  const sum = sumSamples([sample(10n, 100, 1000), sample(5n, 50, null)])!;
  assertEquals(sum.cpu?.usageNs, 15n);
  assertEquals(sum.memory?.usageBytes, 150);
  assertEquals(sum.memory?.workingSetBytes, 130);
  assertEquals(sum.memory?.limitBytes, null, "one unlimited container: the pod is unlimited");
  assertEquals(sum.pids, 4);
  assertEquals(sumSamples([]), null);
});

const res = (r: Partial<LinuxContainerResources>): LinuxContainerResources => ({
  cpu_period: "0",
  cpu_quota: "0",
  cpu_shares: "0",
  memory_limit_in_bytes: "0",
  oom_score_adj: "0",
  cpuset_cpus: "",
  cpuset_mems: "",
  hugepage_limits: [],
  unified: {},
  memory_swap_limit_in_bytes: "0",
  ...r,
});

Deno.test("CRI resources become runc update JSON; zero means unset", () => {
  assertEquals(
    toOciResources(
      res({
        memory_limit_in_bytes: "134217728",
        memory_swap_limit_in_bytes: "268435456",
        cpu_shares: "512",
        cpu_quota: "-1",
        cpuset_cpus: "0-1,3",
        hugepage_limits: [{ page_size: "2MB", limit: "0" }],
      }),
      { cgroupV2: false },
    ),
    {
      memory: { limit: 134217728, swap: 268435456 },
      cpu: { shares: 512, quota: -1, cpus: "0-1,3" },
      hugepageLimits: [{ pageSize: "2MB", limit: 0 }],
    },
  );
  assertEquals(toOciResources(res({}), { cgroupV2: false }), {});
  assertEquals(
    toOciResources(res({ unified: { "memory.high": "1G" } }), { cgroupV2: true }).unified,
    { "memory.high": "1G" },
  );
});

Deno.test("invalid resources are INVALID_ARGUMENT naming the field", () => {
  const bad: [Partial<LinuxContainerResources>, RegExp][] = [
    [{ memory_limit_in_bytes: "-1" }, /memory_limit_in_bytes/],
    [{ memory_limit_in_bytes: "12x" }, /not an integer/],
    [{ memory_limit_in_bytes: "104857600", memory_swap_limit_in_bytes: "1000" }, /swap/],
    [{ memory_swap_limit_in_bytes: "104857600" }, /needs memory_limit/],
    [{ cpu_shares: "300000" }, /cpu_shares/],
    [{ cpu_quota: "5" }, /cpu_quota/],
    [{ cpu_period: "5000000" }, /cpu_period/],
    [{ cpuset_mems: "a" }, /cpuset_mems/],
    [{ oom_score_adj: "2000" }, /oom_score_adj/],
    [{ hugepage_limits: [{ page_size: "2M", limit: "1" }] }, /page_size/],
    [{ unified: { "memory.max": "1" } }, /cgroup v1/],
  ];
  for (const [r, msg] of bad) {
    throws(
      () => toOciResources(res(r), { cgroupV2: false }),
      (e: Error) => e instanceof InvalidArgumentError && msg.test(e.message),
    );
  }
  throws(
    () => toOciResources(res({ unified: { "../x": "1" } }), { cgroupV2: true }),
    InvalidArgumentError,
  );
});

Deno.test("updates merge over what is in force", () => {
  assertEquals(
    mergeResources({ memory: { limit: 1, swap: 2 }, devices: [] }, { memory: { limit: 5 } }),
    { memory: { limit: 5, swap: 2 }, devices: [] },
  );
  const merged = mergeCriResources(
    res({ memory_limit_in_bytes: "100", cpu_shares: "2" }),
    res({ cpu_shares: "512", cpuset_cpus: "1" }),
  );
  assertEquals(
    [merged.memory_limit_in_bytes, merged.cpu_shares, merged.cpuset_cpus],
    ["100", "512", "1"],
  );
});

Deno.test("metric descriptors use cAdvisor names with id, name, image first", () => {
  for (const m of Object.values(METRICS)) {
    assertEquals(m.desc.label_keys.slice(0, 3), ["id", "name", "image"]);
    assertEquals(/^container_[a-z_]+$/.test(m.desc.name), true, m.desc.name);
  }
});
