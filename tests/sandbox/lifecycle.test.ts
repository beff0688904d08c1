/**
 * Pod sandbox lifecycle on real namespaces and real CNI plugins, each test on its own
 * bridge and subnet: networking between pods, host network, DNS, hostname, shm, infra
 * process, status/list/stream filters, idempotent stop/remove.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites } from "../helpers/env.ts";
import { cleanupSkiff, inPod, podConfig, REQUIRED_BINARIES, verboseInfo } from "./helpers.ts";

const ignore = missingPrerequisites({ root: true, binaries: REQUIRED_BINARIES }) !== null;

async function withSkiff(fn: (s: TestSkiff) => Promise<void>): Promise<void> {
  const s = await TestSkiff.create({ bridge: true });
  try {
    await s.start();
    await fn(s);
  } finally {
    await cleanupSkiff(s);
  }
}

Deno.test({
  name: "two pods get distinct IPs on the test bridge and reach each other",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const a = await s.client.call("RunPodSandbox", { config: podConfig() });
      const b = await s.client.call("RunPodSandbox", { config: podConfig() });
      const sa = await s.client.call("PodSandboxStatus", { pod_sandbox_id: a.pod_sandbox_id });
      const sb = await s.client.call("PodSandboxStatus", { pod_sandbox_id: b.pod_sandbox_id });
      const ipA = sa.status!.network!.ip;
      const ipB = sb.status!.network!.ip;
      const prefix = s.subnet.replace(/0\/24$/, "");
      assert(ipA.startsWith(prefix), `${ipA} not in ${s.subnet}`);
      assert(ipB.startsWith(prefix), `${ipB} not in ${s.subnet}`);
      assert.notEqual(ipA, ipB);
      assert.equal(sa.status!.state, "SANDBOX_READY");
      const va = await verboseInfo(s, a.pod_sandbox_id);
      const vb = await verboseInfo(s, b.pod_sandbox_id);
      const ping = await inPod(va.namespaces, ["busybox", "ping", "-c", "1", "-W", "2", ipB]);
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);
      const back = await inPod(vb.namespaces, ["busybox", "ping", "-c", "1", "-W", "2", ipA]);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      // lo is up inside the pod (the loopback plugin ran).
      const lo = await inPod(va.namespaces, ["busybox", "ping", "-c", "1", "-W", "2", "127.0.0.1"]);
      assert.equal(lo.code, 0, lo.stdout + lo.stderr);
      for (const id of [a.pod_sandbox_id, b.pod_sandbox_id]) {
        await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      }
    }),
});
