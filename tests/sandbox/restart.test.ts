/**
 * Recovery: Skiff SIGKILLed with 5 ready sandboxes finds them all again, ready, with the
 * same IPs and working networks (and the infra process still alive); stop and remove still
 * work. A sandbox whose creation a crash interrupted, and namespace files no record owns,
 * are cleaned up at start.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { freePort, missingPrerequisites } from "../helpers/env.ts";
import { databaseFile, parseConfig } from "../../core/config/mod.ts";
import { Store } from "../../store/mod.ts";
import type { SandboxRecord } from "../../runtime/sandbox/mod.ts";
import {
  cleanupSkiff,
  cmd,
  inPod,
  podConfig,
  REQUIRED_BINARIES,
  snapshot,
  splitRule,
  verboseInfo,
} from "./helpers.ts";

const ignore = missingPrerequisites({ root: true, binaries: REQUIRED_BINARIES }) !== null;

Deno.test({
  name: "SIGKILLed Skiff recovers 5 sandboxes intact and cleans up interrupted ones",
  ignore,
  fn: async () => {
    const s = await TestSkiff.create({ bridge: true });
    try {
      await s.start();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await s.client.call("RunPodSandbox", {
          config: podConfig({ pid: i === 0 ? "POD" : "CONTAINER" }),
        });
        ids.push(r.pod_sandbox_id);
      }
      const ipsBefore = new Map<string, string>();
      for (const id of ids) {
        const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
        ipsBefore.set(id, st.status!.network!.ip);
      }
      const infraPid = (await verboseInfo(s, ids[0])).pid;
      assert.ok(infraPid > 0);

      await s.kill();

      // While Skiff is down: a sandbox caught half-made by the crash (its record says
      // "creating", its network namespace is pinned, its shm mounted), and a namespace
      // file that no record owns at all.
      const config = parseConfig(await Deno.readTextFile(s.configPath), s.configPath);
      const nsDir = `${s.stateDir}/ns`;
      const halfId = "f".repeat(64);
      const orphanId = "e".repeat(64);
      const halfDir = `${s.stateDir}/sandboxes/${halfId}`;
      await Deno.mkdir(`${halfDir}/shm`, { recursive: true });
      for (const f of [`${nsDir}/${halfId}-net`, `${nsDir}/${orphanId}-net`]) {
        await Deno.writeTextFile(f, "");
        assert.equal((await cmd(["unshare", `--net=${f}`, "true"])).code, 0);
      }
      assert.equal((await cmd(["mount", "-t", "tmpfs", "tmpfs", `${halfDir}/shm`])).code, 0);
      const store = new Store(databaseFile(config));
      const records = store.collection<SandboxRecord>("sandboxes");
      const template = records.get(ids[1])!;
      records.put(halfId, {
        ...template,
        id: halfId,
        name: "half-made",
        phase: "creating",
        dir: halfDir,
        ns: { net: `${nsDir}/${halfId}-net`, ipc: null, uts: null },
        shmPath: `${halfDir}/shm`,
        network: null,
        networkAttached: false,
        infra: null,
        ips: [],
      });
      store.close();

      // ...and an infra process of the half-made sandbox that was never recorded.
      const strayInfra = new Deno.Command("sleep", {
        args: ["infinity"],
        env: { SKIFF_STATE_DIR: s.stateDir, SKIFF_SANDBOX_ID: halfId },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();

      await s.start();
      const strayExit = await Promise.race([
        strayInfra.status,
        new Promise<null>((r) => setTimeout(() => r(null), 5000)),
      ]);
      if (!strayExit) strayInfra.kill("SIGKILL");
      assert.equal(strayExit?.signal, "SIGKILL", "stray infra process was not killed at start");
      const { items } = await s.client.call("ListPodSandbox", {});
      assert.deepEqual(items.map((i) => i.id).sort(), [...ids].sort());
      for (const id of ids) {
        const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
        assert.equal(st.status!.state, "SANDBOX_READY", `${id} not ready after restart`);
        assert.equal(st.status!.network!.ip, ipsBefore.get(id));
      }
      assert.equal((await verboseInfo(s, ids[0])).pid, infraPid);
      assert.ok(Deno.statSync(`/proc/${infraPid}`).isDirectory, "infra process died");
      // Recovery ran CNI CHECK (with the cached results as prevResult) on all 5.
      let checkLine: string | undefined;
      for (let i = 0; i < 100 && !checkLine; i++) {
        checkLine = (await s.log()).split("\n").find((l) =>
          l.includes("CNI CHECK of recovered pod sandboxes done")
        );
        if (!checkLine) await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(checkLine ?? "", /checked=5 failed=0/);
      const v1 = await verboseInfo(s, ids[1]);
      const ping = await inPod(v1.namespaces, [
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        ipsBefore.get(ids[2])!,
      ]);
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);

      // The half-made sandbox and the orphan are gone, mounts included.
      const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
      assert.ok(!mountinfo.includes(halfId), "half-made sandbox still mounted");
      assert.ok(!mountinfo.includes(orphanId), "orphan namespace still mounted");
      assert.equal(await Deno.stat(halfDir).catch(() => null), null);
      assert.equal(await Deno.stat(`${nsDir}/${orphanId}-net`).catch(() => null), null);

      for (const id of ids) {
        await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      }
      assert.deepEqual((await s.client.call("ListPodSandbox", {})).items, []);
      assert.deepEqual([...Deno.readDirSync(nsDir)], []);
      assert.equal(await Deno.stat(`/proc/${infraPid}/cmdline`).catch(() => null), null);
    } finally {
      await cleanupSkiff(s);
    }
  },
});

Deno.test({
  name:
    "after a reboot-like loss of the state dir, sandboxes are not ready and stop/remove release everything",
  ignore,
  fn: async () => {
    const s = await TestSkiff.create({ bridge: true });
    try {
      await s.start();
      const warm = await s.client.call("RunPodSandbox", { config: podConfig() });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: warm.pod_sandbox_id });
      const before = await snapshot(s);
      const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", {
        config: podConfig({
          port_mappings: [{ protocol: "TCP", container_port: 80, host_port: freePort() }],
        }),
      });
      const v = await verboseInfo(s, id);
      await s.kill();
      // What a reboot does to /run: every pinned namespace and tmpfs is gone.
      for (const p of [v.namespaces.net!, v.namespaces.ipc!, v.namespaces.uts!, v.shmPath!]) {
        assert.equal((await cmd(["umount", p])).code, 0);
      }
      await Deno.remove(`${s.stateDir}/ns`, { recursive: true }).catch(() => {});
      // ...and every iptables rule; the bridge plugin finds its masquerade rules through the
      // pod's interface, so only a real reboot removes them once the namespace is gone.
      await dropMasqueradeRules(id);
      await s.start();
      const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
      assert.equal(st.status!.state, "SANDBOX_NOTREADY");
      await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      const after = await snapshot(s);
      // The IP, the iptables rules and the cache are released; the ns dir itself is new.
      assert.deepEqual(after.ipam, before.ipam);
      assert.deepEqual(after.iptables, before.iptables);
      assert.deepEqual(after.links, before.links);
      assert.deepEqual([...Deno.readDirSync(`${s.rootDir}/cni/cache/results`)], []);
    } finally {
      await cleanupSkiff(s);
    }
  },
});

/** Deletes the bridge plugin's masquerade rules and chain of one pod, as a reboot would. */
async function dropMasqueradeRules(podId: string): Promise<void> {
  const rules = (await cmd(["iptables", "-w", "-t", "nat", "-S", "POSTROUTING"])).stdout
    .split("\n").filter((r) => r.startsWith("-A ") && r.includes(podId));
  for (const r of rules) {
    const argv = splitRule(r.slice(3));
    await cmd(["iptables", "-w", "-t", "nat", "-D", ...argv]);
    const chain = argv[argv.indexOf("-j") + 1];
    await cmd(["iptables", "-w", "-t", "nat", "-F", chain]);
    await cmd(["iptables", "-w", "-t", "nat", "-X", chain]);
  }
}
