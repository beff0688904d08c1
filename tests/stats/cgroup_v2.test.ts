/** cgroup v2 parsing on fixture trees shaped like a real unified hierarchy. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  cgroupsPathToRelative,
  expandSystemdSlice,
  locate,
  parseCgroupMounts,
  parseProcCgroup,
  parsePsi,
  readCgroup,
} from "../../runtime/stats/mod.ts";

const FIXTURES = new URL("../fixtures/cgroupv2", import.meta.url).pathname;
const POD_SLICE = "kubepods-burstable-pod5f2b7c3a_91d4_4e0b_a1c2_7e3f9a8b6d10.slice";
const CONTAINER = "cri-skiff-3f1a9c2e.scope";

const V2_MOUNTINFO = [
  "25 1 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot",
  "30 1 0:26 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw",
].join("\n");

Deno.test("systemd slices and runc cgroupsPath expand to hierarchy paths", () => {
  assertEquals(
    expandSystemdSlice(POD_SLICE),
    `/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}`,
  );
  assertEquals(expandSystemdSlice("/kubepods/pod1"), "/kubepods/pod1");
  assertEquals(
    cgroupsPathToRelative(`${POD_SLICE}:cri-skiff:3f1a9c2e`),
    `/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}/${CONTAINER}`,
  );
  assertEquals(
    cgroupsPathToRelative("/kubepods/burstable/pod1/abc"),
    "/kubepods/burstable/pod1/abc",
  );
  assertEquals(cgroupsPathToRelative("kubepods/abc"), "/kubepods/abc");
});

Deno.test("a pure v2 host locates cgroups under the cgroup2 mount", () => {
  const mounts = parseCgroupMounts(V2_MOUNTINFO);
  assertEquals(mounts.v1.size, 0);
  assertEquals(locate("/kubepods.slice/x.scope", mounts), {
    version: 2,
    dir: "/sys/fs/cgroup/kubepods.slice/x.scope",
  });
  const own = parseProcCgroup("0::/kubepods.slice/x.scope\n");
  assertEquals(own.v2, "/kubepods.slice/x.scope");
});

Deno.test("a hybrid host (v1 controllers, empty v2) is read as v1", () => {
  const mounts = parseCgroupMounts([
    "26 25 0:24 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
    "28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
    "29 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
    "30 25 0:28 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids",
  ].join("\n"));
  assertEquals(locate("/kubepods/pod1/c1", mounts), {
    version: 1,
    cpuacct: "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/c1",
    memory: "/sys/fs/cgroup/memory/kubepods/pod1/c1",
    pids: "/sys/fs/cgroup/pids/kubepods/pod1/c1",
    unified: "/sys/fs/cgroup/unified/kubepods/pod1/c1",
  });
  const own = parseProcCgroup("4:memory:/a\n2:cpu,cpuacct:/b\n0::/\n");
  assertEquals(own.v1.get("cpuacct"), "/b");
  assertEquals(own.v1.get("memory"), "/a");
});

Deno.test("v2 container cgroup: CPU, memory, swap, pids and PSI", async () => {
  const dir = `${FIXTURES}/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}/${CONTAINER}`;
  const s = await readCgroup({ version: 2, dir });
  assertEquals(s.cpu?.usageNs, 5_250_000_000n);
  assertEquals(s.memory?.usageBytes, 73875456);
  // working set = memory.current − inactive_file, as kubelet computes it
  assertEquals(s.memory?.workingSetBytes, 73875456 - 3801088);
  assertEquals(s.memory?.rssBytes, 69206016);
  assertEquals(s.memory?.pageFaults, 17305);
  assertEquals(s.memory?.majorPageFaults, 12);
  assertEquals(s.memory?.limitBytes, 134217728);
  assertEquals(s.memory?.availableBytes, 134217728 - (73875456 - 3801088));
  assertEquals(s.swap, { usageBytes: 1048576, limitBytes: 67108864, availableBytes: 66060288 });
  assertEquals(s.pids, 3);
  assertEquals(s.cpu?.psi?.some, {
    avg10: 12.5,
    avg60: 4.2,
    avg300: 1.05,
    totalNs: 2_300_000_000n,
  });
  assertEquals(s.cpu?.psi?.full?.totalNs, 0n);
  assertEquals(s.memory?.psi?.full?.totalNs, 9_000_000n);
  assertEquals(s.ioPsi?.some.avg10, 0.31);
});

Deno.test("v2 pod cgroup: unlimited memory and no swap accounting", async () => {
  const s = await readCgroup({
    version: 2,
    dir: `${FIXTURES}/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}`,
  });
  assertEquals(s.cpu?.usageNs, 5_400_000_000n);
  assertEquals(s.memory?.limitBytes, null);
  assertEquals(s.memory?.availableBytes, null);
  assertEquals(s.memory?.workingSetBytes, 74448896 - 3801088);
  assertEquals(s.swap, null);
  assertEquals(s.pids, 4);
  assertEquals(s.ioPsi, null);
});

Deno.test("v2 without PSI (psi=0) and a missing cgroup read as nulls, not errors", async () => {
  const s = await readCgroup({ version: 2, dir: `${FIXTURES}/nopsi` });
  assertEquals(s.cpu?.psi, null);
  assertEquals(s.memory?.psi, null);
  assert(s.memory !== null && s.memory.limitBytes === null);
  const gone = await readCgroup({ version: 2, dir: `${FIXTURES}/does-not-exist` });
  assertEquals([gone.cpu, gone.memory, gone.swap, gone.pids], [null, null, null, null]);
});

Deno.test("PSI lines parse with totals in nanoseconds", () => {
  assertEquals(parsePsi("some avg10=1.00 avg60=2.00 avg300=3.00 total=7\n"), {
    some: { avg10: 1, avg60: 2, avg300: 3, totalNs: 7000n },
    full: null,
  });
  assertEquals(parsePsi(""), null);
});
