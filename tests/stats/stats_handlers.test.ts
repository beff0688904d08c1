/**
 * The stats RPC handlers over the real collector: a pod cgroup with a container cgroup
 * holding a busy 64 MiB process that lives in a pinned network namespace, and a writable
 * layer directory. The container and sandbox services are stood in for by plain records
 * (StatsTargets); everything read is real.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import type { ContainerForStats, SandboxForStats, StatsTargets } from "../../runtime/contracts.ts";
import { StatsCollector } from "../../runtime/stats/mod.ts";
import { statsHandlers } from "../../cri/handlers/stats.ts";
import type { CallContext, HandlerFor } from "../../cri/handler.ts";
import { NotFoundError } from "../../core/errors.ts";
import { makeTempDir, missingPrerequisites, randomHex } from "../helpers/env.ts";
import { removeTree } from "../helpers/skiff.ts";
import { type Hog, makeCgroup, makeNetns, run, startHog, v1Missing } from "./helpers.ts";

const MiB = 1024 * 1024;
const missing = v1Missing() ??
  missingPrerequisites({ root: true, binaries: ["unshare", "nsenter", "ip", "busybox"] });
if (missing) console.error(`\n!!! SKIPPING stats handler tests: missing ${missing} !!!\n`);

const ctx = (): CallContext => ({
  method: "ListPodSandboxStats",
  signal: new AbortController().signal,
});

class Targets implements StatsTargets {
  constructor(public containers: ContainerForStats[], public sandboxes: SandboxForStats[]) {}
  listContainersForStats() {
    return this.containers;
  }
  getContainerForStats(id: string) {
    return this.containers.find((c) => c.id === id);
  }
  listSandboxesForStats() {
    return this.sandboxes;
  }
  getSandboxForStats(id: string) {
    return this.sandboxes.find((s) => s.id === id);
  }
}

Deno.test({
  name: "stats RPCs: container and pod CPU, memory, network, processes, writable layer",
  ignore: missing !== null,
  async fn() {
    const dir = await makeTempDir("statsrpc");
    const podRel = `/skiff-test-${randomHex(10)}`;
    const pod = await makeCgroup(podRel);
    const ctr = await makeCgroup(`${podRel}/ctr1`);
    const netns = `${dir}/net`;
    let hog: Hog | undefined;
    try {
      await makeNetns(netns);
      hog = await startHog(ctr.procsFiles, { netns });
      const layer = `${dir}/upper`;
      await Deno.mkdir(`${layer}/tmp`, { recursive: true });
      await Deno.writeFile(`${layer}/tmp/data`, new Uint8Array(3 * MiB).fill(1));

      const container: ContainerForStats = {
        id: "ctr1",
        sandboxId: "pod1",
        name: "hog",
        attempt: 2,
        labels: { app: "hog" },
        annotations: { a: "b" },
        image: "busybox:latest",
        state: "CONTAINER_RUNNING",
        pid: hog.pid,
        cgroupsPath: `${podRel}/ctr1`,
        writableLayerDir: layer,
        startedAt: Date.now() - 5000,
      };
      const stopped: ContainerForStats = {
        ...container,
        id: "ctr0",
        state: "CONTAINER_EXITED",
        pid: 0,
        labels: {},
      };
      const sandbox: SandboxForStats = {
        id: "pod1",
        name: "web",
        uid: "uid-1",
        namespace: "default",
        attempt: 0,
        labels: { app: "hog" },
        annotations: {},
        state: "SANDBOX_READY",
        cgroupParent: podRel,
        netnsPath: netns,
        hostNetwork: false,
      };
      const collector = new StatsCollector(new Targets([container, stopped], [sandbox]), {
        minRateWindowMs: 0,
        fsCacheMs: 0,
        writableLayerMount: dir,
      });
      const h = statsHandlers({ collector });
      const listC = h.ListContainerStats as HandlerFor<"ListContainerStats">;
      const oneC = h.ContainerStats as HandlerFor<"ContainerStats">;
      const listP = h.ListPodSandboxStats as HandlerFor<"ListPodSandboxStats">;
      const metrics = h.ListPodSandboxMetrics as HandlerFor<"ListPodSandboxMetrics">;

      // Traffic inside the pod's namespace, over eth0's peer.
      await run(
        "nsenter",
        `--net=${netns}`,
        "busybox",
        "ping",
        "-c",
        "2",
        "-i",
        "0.1",
        "169.254.77.2",
      );

      const first = await listC({ filter: null }, ctx());
      assertEquals(first.stats?.map((s) => s?.attributes?.id), ["ctr1"], "only running ones");
      await new Promise((r) => setTimeout(r, 500));
      const { stats } = await oneC({ container_id: "ctr1" }, ctx());
      assert(stats);
      assertEquals(stats.attributes?.metadata, { name: "hog", attempt: 2 });
      assertEquals(stats.attributes?.labels, { app: "hog" });
      const cpuNs = BigInt(stats.cpu!.usage_core_nano_seconds!.value!);
      const nanoCores = BigInt(stats.cpu!.usage_nano_cores!.value!);
      assert(cpuNs > 0n);
      // A busy loop: well over a tenth of a core, even on a loaded 2-core test machine.
      assert(nanoCores > 100_000_000n, `usage_nano_cores ${nanoCores}`);
      assert(Number(stats.memory!.working_set_bytes!.value) >= 64 * MiB);
      assert(Number(stats.memory!.rss_bytes!.value) >= 64 * MiB);
      assert(Number(stats.memory!.page_faults!.value) > 1000);
      assertEquals(stats.memory!.available_bytes, null, "no limit: no available bytes");
      const wl = stats.writable_layer!;
      assert(Number(wl.used_bytes!.value) >= 3 * MiB);
      assertEquals(wl.inodes_used!.value, "3");
      assertEquals(wl.fs_id!.mountpoint, dir);

      // Filters
      assertEquals(
        (await listC({ filter: { id: "", pod_sandbox_id: "nope", label_selector: {} } }, ctx()))
          .stats,
        [],
      );
      assertEquals(
        (await listC(
          { filter: { id: "", pod_sandbox_id: "pod1", label_selector: { app: "hog" } } },
          ctx(),
        ))
          .stats?.length,
        1,
      );
      await rejects(oneC({ container_id: "missing" }, ctx()), NotFoundError);

      // Pod level: the pod cgroup holds the container, the netns saw the pings.
      const pods = await listP({ filter: null }, ctx());
      assertEquals(pods.stats?.length, 1);
      const p = pods.stats![0]!;
      assertEquals(p.attributes?.metadata, {
        name: "web",
        uid: "uid-1",
        namespace: "default",
        attempt: 0,
      });
      const linux = p.linux!;
      assert(Number(linux.memory!.working_set_bytes!.value) >= 64 * MiB);
      assert(BigInt(linux.cpu!.usage_core_nano_seconds!.value!) >= cpuNs);
      assert(Number(linux.process!.process_count!.value) >= 1);
      assertEquals(linux.network!.default_interface!.name, "eth0");
      assert(Number(linux.network!.default_interface!.tx_bytes!.value) > 0, "eth0 sent the pings");
      assertEquals(linux.containers?.map((c) => c?.attributes?.id), ["ctr1"]);

      // cAdvisor-named metrics
      const m = await metrics({}, ctx());
      const pm = m.pod_metrics![0]!;
      const byName = (list: typeof pm.metrics, name: string) =>
        list!.filter((x) => x!.name === name);
      const podTx = byName(pm.metrics, "container_network_transmit_bytes_total")
        .find((x) => x!.label_values!.at(-1) === "eth0");
      assertEquals(podTx!.label_values, ["pod1", "POD", "", "eth0"]);
      assert(Number(podTx!.value!.value) > 0);
      const cm = pm.container_metrics![0]!;
      assertEquals(cm.container_id, "ctr1");
      const ws = byName(cm.metrics, "container_memory_working_set_bytes")[0]!;
      assertEquals(ws.label_values, ["ctr1", "hog", "busybox:latest"]);
      assertEquals(ws.metric_type, "GAUGE");
      assert(Number(ws.value!.value) >= 64 * MiB);
      const cpu = byName(cm.metrics, "container_cpu_usage_seconds_total")[0]!;
      assertEquals(cpu.metric_type, "COUNTER");
      assertEquals(cpu.label_values, ["ctr1", "hog", "busybox:latest", "total"]);

      const desc = await (h.ListMetricDescriptors as HandlerFor<"ListMetricDescriptors">)(
        {},
        ctx(),
      );
      const names = new Set(desc.descriptors!.map((d) => d!.name));
      for (const x of [...pm.metrics!, ...cm.metrics!]) {
        assert(names.has(x!.name!), `${x!.name} described`);
      }
    } finally {
      await hog?.stop();
      await ctr.remove();
      await pod.remove();
      await run("umount", netns).catch(() => {});
      await removeTree(dir);
    }
  },
});
