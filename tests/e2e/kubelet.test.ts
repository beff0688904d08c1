/**
 * Node-level end to end: a real kubelet (standalone, static pods) drives a private Skiff.
 * One kubelet and one Skiff serve every step, in order: runtime detected with a quiet log,
 * logs/exec/run/port-forward through kubelet, probes, /stats/summary (CPU, memory, pod
 * network growing after traffic, the runtime's imageFs), a Skiff restart keeping container
 * PIDs, 10 pods to Running (timed and reported), crash-loop back-off, and a deleted pod
 * leaving nothing behind. kubelet runs in the stats mode docs/stats-modes.md recommends.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { TestRegistry } from "../helpers/registry.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { freePort, missingPrerequisites } from "../helpers/env.ts";
import { REQUIRED_BINARIES } from "../sandbox/helpers.ts";
import { kubeletSource, TestKubelet, until } from "./kubelet.ts";
import {
  assertPodLeftNothing,
  hostHold,
  kubeletErrorLines,
  type PodTraces,
  podTraces,
  runtimeContainers,
  type Summary,
  summaryPod,
} from "./checks.ts";

function skipReason(): string | null {
  const missing = missingPrerequisites({
    root: true,
    binaries: [...REQUIRED_BINARIES, "docker-registry", "runc", "conmon"],
  });
  if (missing) return missing;
  const src = kubeletSource();
  if (typeof src === "string") {
    console.error(`\n!!! SKIPPING the kubelet end-to-end suite: ${src} !!!\n`);
    return src;
  }
  return null;
}

const ignore = skipReason() !== null;

/** The recommended stats mode (docs/stats-modes.md): pod network stats come from Skiff. */
const STATS_FLAGS = ["--feature-gates=PodAndContainerStatsFromCRI=true"];

const SHELL_TERM = "trap 'exit 0' TERM; ";

const ARTIFACTS = new URL("../artifacts/e2e/", import.meta.url).pathname;

async function keepLogs(logs: [string | undefined, string][]): Promise<void> {
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  for (const [from, name] of logs) {
    if (from) await Deno.copyFile(from, `${ARTIFACTS}${name}`).catch(() => {});
  }
}

Deno.test({
  name: "kubelet drives Skiff end to end",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    let k: TestKubelet | undefined;
    try {
      const img = await pushBusyboxImage(registry, "e2e/busybox:1");
      await s.start();
      k = await TestKubelet.create(s, STATS_FLAGS);
      const kubelet = k;
      const full = (name: string) => `${name}-${kubelet.nodeName}`;
      const ns = kubelet.namespace;

      await t.step("kubelet finds the runtime; no CRI errors in its log while idle", async () => {
        await kubelet.start();
        await until("kubelet lists pods", async () => Array.isArray(await kubelet.pods()));
        // A few sync, PLEG and housekeeping rounds with nothing to do.
        await new Promise((r) => setTimeout(r, 12_000));
        const log = await kubelet.log();
        assert.match(log, /Container runtime initialized/);
        // Every container this Skiff made is logged as created; others are another runtime's.
        const skiffLog = await Deno.readTextFile(s.logFile);
        const ours = (id: string) => skiffLog.includes(`msg="container created" id=${id}`);
        assert.deepEqual(kubeletErrorLines(log, ours), [], "kubelet logged errors while idle");
      });

      const web = {
        containers: [{
          name: "srv",
          image: img.ref,
          command: ["sh", "-c"],
          args: [
            SHELL_TERM +
            "mkdir -p /www && echo hello-e2e > /www/index.html && " +
            "dd if=/dev/zero of=/www/big bs=1024 count=256 2>/dev/null && echo web-started && " +
            "httpd -f -p 8080 -h /www & wait",
          ],
          readinessProbe: {
            httpGet: { path: "/index.html", port: 8080 },
            periodSeconds: 1,
          },
          livenessProbe: { exec: { command: ["cat", "/www/index.html"] }, periodSeconds: 2 },
        }],
        terminationGracePeriodSeconds: 2,
      };
      const sleeper = (name: string) => ({
        containers: [{
          name,
          image: img.ref,
          command: ["sh", "-c", SHELL_TERM + "sleep 3600 & wait"],
        }],
        terminationGracePeriodSeconds: 2,
      });
      await kubelet.writeManifest("web", web);
      await kubelet.writeManifest("gone", sleeper("idle"));
      await kubelet.writeManifest("keep", sleeper("keeper"));
      await kubelet.writeManifest("crash", {
        containers: [{ name: "boom", image: img.ref, command: ["sh", "-c", "echo boom; exit 1"] }],
      });
      await kubelet.writeManifest("unlive", {
        containers: [{
          name: "probed",
          image: img.ref,
          command: ["sh", "-c", SHELL_TERM + "sleep 3600 & wait"],
          livenessProbe: {
            exec: { command: ["cat", "/not/here"] },
            periodSeconds: 1,
            failureThreshold: 1,
          },
        }],
        terminationGracePeriodSeconds: 1,
      });

      await t.step("a pod runs: Ready through its httpGet readiness probe", async () => {
        await until("web is Running and Ready", async () => {
          const p = await kubelet.pod("web");
          return p?.status.phase === "Running" &&
            p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true;
        }, 90_000);
      });

      await t.step("logs through /containerLogs", async () => {
        await until("the log line is served", async () => {
          const r = await kubelet.get(`/containerLogs/${ns}/${full("web")}/srv`);
          return r.ok && (await r.text()).includes("web-started");
        }, 20_000);
      });

      await t.step("ExecSync through /run", async () => {
        const r = await fetch(
          `${kubelet.url}/run/${ns}/${full("web")}/srv?cmd=${
            encodeURIComponent("cat /www/index.html")
          }`,
          { method: "POST" },
        );
        assert.equal(r.status, 200);
        assert.equal((await r.text()).trim(), "hello-e2e");
      });

      const noStream = kubelet.streamBin === null;
      if (noStream) {
        console.error(
          "\n!!! SKIPPING exec and port-forward through kubelet: no kubelet-stream client " +
            "(set SKIFF_KUBELET_STREAM or provide ../shared/tools/kubelet/kubelet-stream.gz) !!!\n",
        );
      }
      await t.step({
        name: "exec through /exec over SPDY and WebSocket",
        ignore: noStream,
        fn: async () => {
          for (const ws of [false, true]) {
            const out = await kubelet.stream("exec", [
              `-pod=${full("web")}`,
              "-container=srv",
              ...(ws ? ["-ws"] : []),
              "--",
              "sh",
              "-c",
              "cat /www/index.html; echo via-exec",
            ]).output();
            const text = new TextDecoder().decode(out.stdout);
            assert.ok(
              out.success,
              `exec (ws=${ws}) failed: ${new TextDecoder().decode(out.stderr)}`,
            );
            assert.match(text, /hello-e2e\s+via-exec/);
          }
        },
      });

      await t.step({
        name: "port-forward through /portForward reaches the server in the pod",
        ignore: noStream,
        fn: async () => {
          // kubelet-stream's pf forwards LOCAL to the pod's port, GETs / through it and exits.
          const out = await kubelet.stream("pf", [
            `-pod=${full("web")}`,
            `-port=${freePort()}:8080`,
          ])
            .output();
          const text = new TextDecoder().decode(out.stdout);
          assert.ok(out.success, `pf failed: ${new TextDecoder().decode(out.stderr)}`);
          assert.match(text, /HTTP 200/);
          assert.match(text, /hello-e2e/);
        },
      });

      let gone: PodTraces | undefined;
      await t.step(
        "deleting a manifest: the pod is stopped (checked for leftovers last)",
        async () => {
          await until(
            "gone is Running",
            async () => (await kubelet.pod("gone"))?.status.phase === "Running",
            60_000,
          );
          gone = await podTraces(s, kubelet, "gone");
          // While it runs, the host holds every kind of trace the last step looks for.
          const held = await hostHold(s, kubelet, gone);
          assert.ok(held.netns && held.hostVeth, "netns file and host veth exist");
          assert.equal(held.ipFiles.length, 1, "one IP allocated");
          assert.equal(held.conmons.length, 1, "one conmon runs");
          assert.ok(held.mounts.length > 0, "mounts name the pod's IDs");
          assert.ok(held.cgroups.length > 0, "the pod has cgroups");
          await kubelet.deleteManifest("gone");
        },
      );

      await t.step(
        "/stats/summary: CPU, memory, growing pod network, runtime imageFs",
        async () => {
          const podIp = (await kubelet.pod("web"))!.status.podIP!;
          assert.ok(podIp, "web has a pod IP");
          let before: Summary | undefined;
          await until("web has CPU, memory and network stats", async () => {
            before = await kubelet.json<Summary>("/stats/summary");
            const p = summaryPod(before, full("web"));
            return !!p?.network?.rxBytes && !!p.cpu?.usageCoreNanoSeconds &&
              !!p.memory?.workingSetBytes;
          }, 30_000);
          const p0 = summaryPod(before!, full("web"))!;
          assert.ok(p0.cpu!.usageCoreNanoSeconds! > 0);
          assert.ok(p0.memory!.workingSetBytes! > 0);
          assert.equal(p0.network!.name, "eth0");
          // every interface of the pod's namespace, eth0 first (ListPodSandboxStats' order)
          assert.equal(p0.network!.interfaces![0].name, "eth0");
          assert.ok(p0.network!.interfaces!.some((i) => i.name === "lo"));
          const srv = p0.containers.find((c) => c.name === "srv");
          assert.ok(srv?.cpu?.usageCoreNanoSeconds && srv.cpu.usageCoreNanoSeconds > 0);
          assert.ok(srv?.memory?.workingSetBytes && srv.memory.workingSetBytes > 0);
          const rt = before!.node.runtime?.imageFs;
          assert.ok(rt?.usedBytes && rt.usedBytes > 0, "the runtime's imageFs is reported");
          assert.ok(rt.capacityBytes && rt.capacityBytes > 0);
          const cfs = before!.node.runtime?.containerFs;
          assert.ok(cfs?.usedBytes !== undefined, "the runtime's containerFs is reported");

          // Traffic from the host to the pod over its eth0: 20 × 256 KiB.
          for (let i = 0; i < 20; i++) {
            const r = await fetch(`http://${podIp}:8080/big`);
            assert.equal((await r.arrayBuffer()).byteLength, 256 * 1024);
          }
          await until("rx and tx bytes grew", async () => {
            const now = summaryPod(await kubelet.json<Summary>("/stats/summary"), full("web"));
            return (now?.network?.txBytes ?? 0) >= p0.network!.txBytes! + 20 * 256 * 1024 &&
              (now?.network?.rxBytes ?? 0) > p0.network!.rxBytes!;
          }, 30_000);
        },
      );

      await t.step("a Skiff restart while pods run keeps the same container PIDs", async () => {
        // The long-running containers (crash and unlive ones come and go by design).
        const before = await runtimeContainers(s, ["srv", "keeper"]);
        assert.equal(before.size, 2);
        await s.stop();
        await s.start();
        // A few kubelet sync rounds over the restarted runtime.
        await new Promise((r) => setTimeout(r, 12_000));
        const after = await runtimeContainers(s, ["srv", "keeper"]);
        for (const [id, pid] of before) {
          if (pid === 0) continue;
          assert.equal(after.get(id), pid, `container ${id} kept its PID ${pid}`);
          assert.ok(await Deno.stat(`/proc/${pid}`).then(() => true, () => false));
        }
        const webNow = await kubelet.pod("web");
        assert.equal(webNow?.status.containerStatuses?.[0].restartCount, 0);
      });

      await t.step("10 pods to Running (timed, reported)", async () => {
        const t0 = performance.now();
        for (let i = 0; i < 10; i++) await kubelet.writeManifest(`bulk${i}`, sleeper("s"));
        await until(
          "10 pods Running",
          async () => {
            const pods = (await kubelet.pods()).filter((p) => p.metadata.name.startsWith("bulk"));
            return pods.length === 10 &&
              pods.every((p) =>
                p.status.phase === "Running" &&
                p.status.containerStatuses?.every((c) => c.state.running) === true
              );
          },
          120_000,
          250,
        );
        const ms = performance.now() - t0;
        console.log(`\n  10 pods to Running through kubelet: ${(ms / 1000).toFixed(1)} s\n`);
        for (let i = 0; i < 10; i++) await kubelet.deleteManifest(`bulk${i}`);
      });

      await t.step(
        "CrashLoopBackOff with a growing restart count; exec liveness restarts",
        async () => {
          let first = -1;
          let sawBackOff = false;
          await until(
            "crash restarted twice, in back-off",
            async () => {
              const c = (await kubelet.pod("crash"))?.status.containerStatuses?.[0];
              if (!c) return false;
              if (c.state.waiting?.reason === "CrashLoopBackOff") sawBackOff = true;
              if (first < 0 && c.restartCount >= 1) first = c.restartCount;
              return sawBackOff && first >= 1 && c.restartCount > first;
            },
            90_000,
            500,
          );
          const logs = await kubelet.get(`/containerLogs/${ns}/${full("crash")}/boom`);
          assert.match(await logs.text(), /boom/);
          const unlive = (await kubelet.pod("unlive"))?.status.containerStatuses?.[0];
          assert.ok(unlive && unlive.restartCount >= 1, "a failing exec liveness probe restarts");
          const webNow = (await kubelet.pod("web"))?.status.containerStatuses?.[0];
          assert.equal(webNow?.restartCount, 0, "a passing exec liveness probe does not");
        },
      );

      await t.step(
        "the deleted pod left nothing: netns, veth, IP, conmon, mounts, cgroups",
        async () => {
          await assertPodLeftNothing(s, kubelet, gone!);
        },
      );

      await t.step("kubelet's log: ImageFsInfo served, no CRI errors", async () => {
        const log = await kubelet.log();
        assert.doesNotMatch(log, /ImageFsInfo from image service failed/);
        assert.doesNotMatch(log, /ListPodSandboxStats from runtime service failed/);
        // The eviction manager's split-disk probe asks cAdvisor for a runtime label that only
        // CRI-O's socket name gets (kubelet's imageFsInfoProvider), never the runtime: the
        // line, when present, must be that and nothing else (docs/stats-modes.md).
        for (const l of log.split("\n").filter((l) => /separate container filesystem/.test(l))) {
          assert.match(l, /err="no imagefs label for configured runtime"/);
        }
      });
    } finally {
      // kubelet first (it would restart what Skiff removes), then the pods, then its cgroups.
      await k?.stop();
      // Both logs are kept for whoever reads a failure (tests/artifacts is not committed).
      await keepLogs([[k?.logFile, "kubelet.log"], [s.logFile, "skiff.log"]]);
      await s.dispose();
      await k?.cleanupHost();
      await registry.stop();
    }
  },
});
