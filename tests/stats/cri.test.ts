/**
 * Issue 7 through CRI against a real Skiff: an image pushed to a real registry on 127.0.0.1
 * and pulled through Skiff, a pod on Skiff's built-in bridge (a bridge and subnet unique to
 * this run), containers run by conmon + runc. Stats of a container burning CPU and holding
 * 60 MiB, pod network counters after pings into the pod, GetContainerEvents to two
 * subscribers (and a disconnect that leaks no subscription), resource updates seen in the
 * cgroup and ContainerStatus, log rotation + ReopenContainerLog, checkpoint, and /metrics.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { CriCallError } from "../../cri/client.ts";
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig, ContainerEventResponse, PodSandboxConfig } from "../../cri/types.ts";
import { criLogText, removeCgroup, runtimePrerequisitesMissing } from "../container/fixture.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites, randomHex } from "../helpers/env.ts";
import { v1Missing } from "./helpers.ts";

const MiB = 1024 * 1024;
const ignore = runtimePrerequisitesMissing() !== null || registryPrerequisitesMissing() !== null ||
  missingPrerequisites({
      binaries: ["bridge", "host-local", "loopback", "iptables", "busybox"],
    }) !==
    null;
const v1 = v1Missing() === null;

async function failure(p: Promise<unknown>): Promise<CriCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CriCallError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 15000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Collects a GetContainerEvents stream until aborted. */
function subscribe(s: TestSkiff) {
  const ac = new AbortController();
  const events: ContainerEventResponse[] = [];
  const done = (async () => {
    try {
      for await (const ev of s.client.stream("GetContainerEvents", {}, { signal: ac.signal })) {
        events.push(ev);
      }
    } catch (err) {
      if (!(err instanceof CriCallError && err.codeName === "CANCELLED")) throw err;
    }
  })();
  return { events, close: async () => (ac.abort(), await done) };
}

async function metricValue(s: TestSkiff, line: RegExp): Promise<number | null> {
  const res = await fetch(s.adminUrl("/metrics"), {
    headers: { authorization: `Bearer ${await s.adminToken()}` },
  });
  const text = await res.text();
  for (const l of text.split("\n")) {
    const m = l.match(line);
    if (m) return Number(l.slice(l.lastIndexOf(" ") + 1));
  }
  return null;
}

Deno.test({
  name: "CRI: stats, pod network, events, resource update, log reopen, checkpoint, metrics",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    const cgroupParent = `/skiff-test-${randomHex(10)}`;
    try {
      const img = await pushBusyboxImage(registry, "stats/busybox:1");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });

      const subscribersAtStart = await metricValue(s, /^skiff_container_event_subscribers /);
      const a = subscribe(s);
      const b = subscribe(s);
      await until(
        "two subscribers",
        async () =>
          (await metricValue(s, /^skiff_container_event_subscribers /)) ===
            subscribersAtStart! + 2,
      );

      const sandbox_config: DeepPartial<PodSandboxConfig> = {
        metadata: { name: "statspod", namespace: "stats", uid: crypto.randomUUID(), attempt: 0 },
        hostname: "statspod",
        log_directory: `${s.dir}/pod-logs`,
        labels: { suite: "stats" },
        linux: { cgroup_parent: cgroupParent },
      };
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", {
        config: sandbox_config,
      });
      const podIp = (await s.client.call("PodSandboxStatus", { pod_sandbox_id: podId })).status
        ?.network?.ip;
      assert(podIp, "the pod has an IP on the test bridge");

      const ctr = (name: string, command: string[]): DeepPartial<ContainerConfig> => ({
        metadata: { name, attempt: 0 },
        image: { image: img.ref },
        command,
        log_path: `${name}/0.log`,
        labels: { name },
      });
      const run = async (name: string, command: string[]) => {
        const { container_id } = await s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: ctr(name, command),
          sandbox_config,
        });
        await s.client.call("StartContainer", { container_id });
        return container_id;
      };
      const logOf = async (id: string) => {
        const st = await s.client.call("ContainerStatus", { container_id: id });
        return st.status!.log_path;
      };

      // --- a container that exits on its own: created → started → stopped → deleted
      const short = await run("short", ["sh", "-c", "sleep 0.3"]);
      const typesFor = (sub: ReturnType<typeof subscribe>) =>
        sub.events.filter((e) => e.container_id === short).map((e) => e.container_event_type);
      await until("stopped event", async () => typesFor(b).includes("CONTAINER_STOPPED_EVENT"));
      await s.client.call("RemoveContainer", { container_id: short });
      const want = [
        "CONTAINER_CREATED_EVENT",
        "CONTAINER_STARTED_EVENT",
        "CONTAINER_STOPPED_EVENT",
        "CONTAINER_DELETED_EVENT",
      ];
      await until(
        "deleted event",
        async () => typesFor(a).length === 4 && typesFor(b).length === 4,
      );
      assertEquals(typesFor(a), want);
      assertEquals(typesFor(b), want);
      const created = a.events.find((e) => e.container_id === short)!;
      assertEquals(created.pod_sandbox_status?.id, podId);
      assert(created.containers_statuses.some((c) => c.id === short), "statuses of the pod");
      assert(BigInt(created.created_at) > 0n);
      const stopped = a.events.find((e) =>
        e.container_id === short && e.container_event_type === "CONTAINER_STOPPED_EVENT"
      )!;
      assertEquals(
        stopped.containers_statuses.find((c) => c.id === short)?.state,
        "CONTAINER_EXITED",
      );

      // A subscriber that disconnects leaves nothing behind; the other goes on.
      await a.close();
      await until(
        "one subscriber gone",
        async () =>
          (await metricValue(s, /^skiff_container_event_subscribers /)) ===
            subscribersAtStart! + 1,
      );

      // --- stats of a container burning CPU and holding 60 MiB of /dev/shm
      const hog = await run("hog", [
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null; echo filled; " +
        "while :; do :; done",
      ]);
      await until("the fill", async () => {
        const text = await Deno.readTextFile(await logOf(hog)).catch(() => "");
        return criLogText(text, "stdout").includes("filled");
      });
      assert(b.events.some((e) => e.container_id === hog), "the open subscriber saw hog start");
      const first = (await s.client.call("ContainerStats", { container_id: hog })).stats!;
      await new Promise((r) => setTimeout(r, 1200));
      const second = (await s.client.call("ContainerStats", { container_id: hog })).stats!;
      assertEquals(second.attributes?.metadata?.name, "hog");
      const cpu1 = BigInt(first.cpu!.usage_core_nano_seconds!.value);
      const cpu2 = BigInt(second.cpu!.usage_core_nano_seconds!.value);
      assert(cpu2 > cpu1, "CPU time rises");
      const nanoCores = BigInt(second.cpu!.usage_nano_cores!.value);
      assert(nanoCores > 300_000_000n, `usage_nano_cores ${nanoCores} shows a busy core`);
      assert(Number(second.memory!.working_set_bytes!.value) >= 60 * MiB, "60 MiB working set");
      assert(Number(second.writable_layer!.inodes_used!.value) >= 1);
      if (v1 && (await Deno.stat("/sys/fs/cgroup/unified/cpu.pressure").catch(() => null))) {
        // Hybrid host: PSI comes from the container's twin in the v2 hierarchy.
        assert(second.cpu!.psi?.Some && second.memory!.psi?.Some, "PSI reported");
      }
      const listed = await s.client.call("ListContainerStats", {
        filter: { pod_sandbox_id: podId, label_selector: { name: "hog" } },
      });
      assertEquals(listed.stats.map((x) => x.attributes?.id), [hog]);
      const streamed = [];
      for await (const m of s.client.stream("StreamContainerStats", {})) {
        streamed.push(...m.container_stats);
      }
      assert(streamed.some((x) => x.attributes?.id === hog));
      assertEquals(
        (await failure(s.client.call("ContainerStats", { container_id: "nope" }))).codeName,
        "NOT_FOUND",
      );

      // --- pod stats: cgroup, process count, network counters after pings into the pod
      await new Deno.Command("busybox", {
        args: ["ping", "-c", "3", "-i", "0.1", "-W", "2", podIp],
        stdout: "null",
        stderr: "null",
      }).output();
      const { stats: pod } = await s.client.call("PodSandboxStats", { pod_sandbox_id: podId });
      assertEquals(pod?.attributes?.metadata?.name, "statspod");
      const linux = pod!.linux!;
      assert(Number(linux.memory!.working_set_bytes!.value) >= 60 * MiB);
      assert(Number(linux.process!.process_count!.value) >= 1);
      assertEquals(linux.network!.default_interface!.name, "eth0");
      assert(Number(linux.network!.default_interface!.rx_bytes!.value) > 0, "pings arrived");
      assert(Number(linux.network!.default_interface!.tx_bytes!.value) > 0, "replies sent");
      assert(linux.containers.some((c) => c.attributes?.id === hog));
      const pods = await s.client.call("ListPodSandboxStats", {
        filter: { label_selector: { suite: "stats" } },
      });
      assertEquals(pods.stats.map((p) => p.attributes?.id), [podId]);

      // --- cAdvisor-named metrics
      const { descriptors } = await s.client.call("ListMetricDescriptors", {});
      const names = new Set(descriptors.map((d) => d.name));
      for (
        const n of [
          "container_cpu_usage_seconds_total",
          "container_memory_working_set_bytes",
          "container_network_receive_bytes_total",
        ]
      ) assert(names.has(n), n);
      const { pod_metrics } = await s.client.call("ListPodSandboxMetrics", {});
      const pm = pod_metrics.find((p) => p.pod_sandbox_id === podId)!;
      const ws = pm.container_metrics.find((c) => c.container_id === hog)!.metrics
        .find((m) => m.name === "container_memory_working_set_bytes")!;
      assert(Number(ws.value!.value) >= 60 * MiB);
      assert(
        pm.metrics.some((m) =>
          m.name === "container_network_receive_bytes_total" && m.label_values.at(-1) === "eth0"
        ),
      );

      // --- resource update: in the cgroup files and in ContainerStatus; bad values refused
      await s.client.call("UpdateContainerResources", {
        container_id: hog,
        linux: {
          memory_limit_in_bytes: String(256 * MiB),
          cpu_quota: "50000",
          cpu_period: "100000",
        },
      });
      const st = await s.client.call("ContainerStatus", { container_id: hog });
      assertEquals(st.status!.resources!.linux!.memory_limit_in_bytes, String(256 * MiB));
      assertEquals(st.status!.resources!.linux!.cpu_quota, "50000");
      if (v1) {
        const dir = `${cgroupParent}/skiff-${hog}`;
        const read = (p: string) => Deno.readTextFileSync(p).trim();
        assertEquals(read(`/sys/fs/cgroup/memory${dir}/memory.limit_in_bytes`), String(256 * MiB));
        assertEquals(read(`/sys/fs/cgroup/cpu${dir}/cpu.cfs_quota_us`), "50000");
      }
      const bad = await failure(s.client.call("UpdateContainerResources", {
        container_id: hog,
        linux: { memory_limit_in_bytes: "-1" },
      }));
      assertEquals(bad.codeName, "INVALID_ARGUMENT");
      assertEquals(
        (await failure(s.client.call("UpdateContainerResources", { container_id: "nope" })))
          .codeName,
        "NOT_FOUND",
      );
      await s.client.call("UpdatePodSandboxResources", {
        pod_sandbox_id: podId,
        resources: { cpu_shares: "1024" },
      });

      // --- checkpoint: an archive, or FAILED_PRECONDITION saying why CRIU cannot work here
      const location = `${s.dir}/checkpoints/hog.tar`;
      try {
        await s.client.call("CheckpointContainer", { container_id: hog, location });
        assert(Deno.statSync(location).size > 0);
      } catch (err) {
        assert(err instanceof CriCallError && err.codeName === "FAILED_PRECONDITION", `${err}`);
        assert(/CRIU/.test(err.details), err.details);
      }

      // --- log rotation + ReopenContainerLog while writing a counter every 10 ms
      const counter = await run("counter", [
        "sh",
        "-c",
        "i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo $i; sleep 0.01; done; sleep 60",
      ]);
      const log = await logOf(counter);
      await until(
        "some lines",
        async () =>
          criLogText(await Deno.readTextFile(log).catch(() => ""), "stdout").split("\n").length >
            20,
      );
      await Deno.rename(log, `${log}.1`);
      await s.client.call("ReopenContainerLog", { container_id: counter });
      const nums = async (p: string) =>
        criLogText(await Deno.readTextFile(p), "stdout").split("\n").filter(Boolean).map(Number);
      await until(
        "all 150 lines",
        async () => (await nums(`${log}.1`)).length + (await nums(log)).length >= 150,
      );
      const before = await nums(`${log}.1`);
      const after = await nums(log);
      assert(before.length > 0 && after.length > 0, "lines on both sides of the rotation");
      assertEquals([...before, ...after], Array.from({ length: 150 }, (_, i) => i + 1));

      // --- Prometheus metrics on /metrics
      assertEquals(await metricValue(s, /^skiff_containers\{state="CONTAINER_RUNNING"\}/), 2);
      assertEquals(await metricValue(s, /^skiff_pods\{state="SANDBOX_READY"\}/), 1);
      assertEquals(await metricValue(s, /^skiff_conmon_processes /), 2);
      assertEquals(await metricValue(s, /^skiff_container_start_duration_seconds_count/), 3);
      assert((await metricValue(s, /^skiff_image_pull_bytes_total /))! > 0);
      assert((await metricValue(s, /^process_resident_memory_bytes /))! > 10 * MiB);
      assert((await metricValue(s, /^skiff_v8_heap_bytes\{kind="used"\} /))! > MiB);
      assert((await metricValue(s, /^skiff_event_loop_lag_seconds /))! >= 0);
      assert(
        (await metricValue(
          s,
          /^skiff_cni_operation_duration_seconds_count\{op="ADD",plugin="bridge",result="ok"\}/,
        ))! >= 1,
        "CNI ADD latency observed",
      );

      await s.client.call("StopContainer", { container_id: counter, timeout: "0" });
      const stoppedReopen = await failure(
        s.client.call("ReopenContainerLog", { container_id: counter }),
      );
      assertEquals(stoppedReopen.codeName, "FAILED_PRECONDITION");

      await s.client.call("StopPodSandbox", { pod_sandbox_id: podId });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
      // The pod itself raises events as containerd's sandbox container does.
      const podTypes = () =>
        b.events.filter((e) => e.container_id === podId).map((e) => e.container_event_type);
      await until("pod deleted event", async () => podTypes().length === 4);
      assertEquals(podTypes(), want);
      assertEquals(
        b.events.find((e) => e.container_id === podId)?.pod_sandbox_status?.id,
        podId,
        "the pod's own status rides along",
      );
      await b.close();
      await until(
        "subscribers back to the start",
        async () =>
          (await metricValue(s, /^skiff_container_event_subscribers /)) === subscribersAtStart,
      );
    } finally {
      await s.dispose();
      await registry.stop();
      await removeCgroup(cgroupParent);
    }
  },
});
