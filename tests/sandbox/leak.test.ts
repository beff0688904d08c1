/**
 * Leak check: 50 run/stop/remove cycles (with a hostPort, a sysctl and, every other cycle,
 * an infra process) leave no extra mounts, namespace files, veths, IPAM allocations,
 * iptables rules, processes, records, cache files or open fds in Skiff.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { freePort, missingPrerequisites } from "../helpers/env.ts";
import { cleanupSkiff, podConfig, REQUIRED_BINARIES, snapshot } from "./helpers.ts";

const ignore = missingPrerequisites({ root: true, binaries: REQUIRED_BINARIES }) !== null;
const CYCLES = 50;

Deno.test({
  name: `${CYCLES} run/stop/remove cycles leak nothing`,
  ignore,
  fn: async () => {
    const s = await TestSkiff.create({ bridge: true });
    try {
      await s.start();
      const hostPort = freePort();
      const cycle = async (i: number) => {
        const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", {
          config: podConfig({
            pid: i % 2 === 0 ? "POD" : "CONTAINER",
            port_mappings: [{ protocol: "TCP", container_port: 80, host_port: hostPort }],
            linux: { sysctls: { "net.ipv4.ping_group_range": "0 2147483647" } },
          }),
        });
        const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
        assert.equal(st.status!.state, "SANDBOX_READY");
        assert.notEqual(st.status!.network!.ip, "");
        await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      };
      // One warm-up cycle creates what is shared by design (bridge, portmap's top chains).
      await cycle(0);
      const before = await snapshot(s);
      for (let i = 1; i <= CYCLES; i++) await cycle(i);
      const after = await snapshot(s);
      assert.deepEqual(after, before);
      assert.ok(after.skiffFds > 0, "could not read Skiff's fds");
      assert.deepEqual((await s.client.call("ListPodSandbox", {})).items, []);
      assert.deepEqual([...Deno.readDirSync(`${s.rootDir}/cni/cache/results`)], []);
      assert.deepEqual([...Deno.readDirSync(`${s.stateDir}/sandboxes`)], []);
    } finally {
      await cleanupSkiff(s);
    }
  },
});
