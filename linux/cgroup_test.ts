import assert from "node:assert/strict";
import { hasHugetlbController, hostCgroupVersion, parseCgroupMounts } from "./cgroup.ts";

const HYBRID = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "36 31 0:33 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");

const UNIFIED = "25 1 0:23 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate";

Deno.test("parseCgroupMounts: v1 controllers by name, the cgroup2 mount point", () => {
  const m = parseCgroupMounts(HYBRID);
  assert.equal(m.v1.get("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
  assert.equal(m.v1.get("memory"), "/sys/fs/cgroup/memory");
  assert.equal(m.v2, "/sys/fs/cgroup/unified");
  assert.equal(parseCgroupMounts(UNIFIED).v1.size, 0);
});

Deno.test("hostCgroupVersion: hybrid hosts are v1, a lone cgroup2 is v2", () => {
  assert.equal(hostCgroupVersion(parseCgroupMounts(HYBRID)), 1);
  assert.equal(hostCgroupVersion(parseCgroupMounts(UNIFIED)), 2);
  assert.equal(hostCgroupVersion(parseCgroupMounts("")), 2);
});

Deno.test("hasHugetlbController: v1 from the mounts", () => {
  assert.equal(hasHugetlbController(parseCgroupMounts(HYBRID)), true);
  assert.equal(hasHugetlbController(parseCgroupMounts(HYBRID.replace(",hugetlb", ",x"))), false);
  assert.equal(hasHugetlbController(parseCgroupMounts("")), false);
});
