/**
 * 200 concurrent CRI calls, mixed as kubelet mixes them (Version, Status, ListContainers,
 * ListPodSandbox, PodSandboxStatus, ContainerStatus, ImageStatus, and some ExecSync), over
 * several connections against a Skiff running a few pods: every call succeeds with the
 * right answer, Skiff keeps answering a probe while the burst is in flight, and its RSS
 * levels off across repeated bursts (no per-call growth). `SKIFF_HEAVY_FAULTS=1`: 100 bursts.
 */
import { CriClient } from "../../cri/client.ts";
import { assert, faultPrerequisitesMissing, FaultWorld, HEAVY } from "./helpers.ts";

const ignore = faultPrerequisitesMissing() !== null;
const CALLS = 200;
const CONNECTIONS = 4;
const BURSTS = HEAVY ? 100 : 40;

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

Deno.test({
  name: `${CALLS} concurrent mixed CRI calls all succeed; Skiff stays responsive, RSS bounded`,
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await FaultWorld.create();
    const clients: CriClient[] = [];
    try {
      await w.skiff.start();
      await w.pullImage();
      const pods: string[] = [];
      const containers: string[] = [];
      for (let p = 0; p < 3; p++) {
        const pod = await w.pod();
        pods.push(pod.id);
        for (let c = 0; c < 2; c++) {
          const id = await w.container(pod, `c${c}`);
          await w.client.call("StartContainer", { container_id: id });
          containers.push(id);
        }
      }
      for (let i = 0; i < CONNECTIONS; i++) clients.push(new CriClient(w.skiff.socket));
      const dec = new TextDecoder();
      const ops: ((c: CriClient, i: number) => Promise<void>)[] = [
        async (c) => {
          const v = await c.call("Version", {});
          assert.equal(v.runtime_name, "skiff");
        },
        async (c) => {
          const st = await c.call("Status", {});
          assert.ok(st.status!.conditions.some((x) => x.type === "RuntimeReady" && x.status));
        },
        async (c) => {
          const { containers: list } = await c.call("ListContainers", {});
          assert.equal(list.length, containers.length);
        },
        async (c) => {
          const { items } = await c.call("ListPodSandbox", {});
          assert.equal(items.length, pods.length);
        },
        async (c, i) => {
          const st = await c.call("PodSandboxStatus", { pod_sandbox_id: pods[i % pods.length] });
          assert.equal(st.status!.state, "SANDBOX_READY");
        },
        async (c, i) => {
          const id = containers[i % containers.length];
          const st = await c.call("ContainerStatus", { container_id: id });
          assert.equal(st.status!.state, "CONTAINER_RUNNING");
        },
        async (c) => {
          const st = await c.call("ImageStatus", { image: { image: w.image.ref } });
          assert.equal(st.image?.id, w.image.imageId);
        },
      ];
      const burst = async () => {
        const calls: Promise<void>[] = [];
        for (let i = 0; i < CALLS; i++) {
          const c = clients[i % clients.length];
          if (i % 10 === 0) {
            // One call in ten is an ExecSync (a runc exec each).
            const id = containers[i % containers.length];
            calls.push(
              c.call("ExecSync", { container_id: id, cmd: ["echo", `n${i}`], timeout: "30" })
                .then((r) => {
                  assert.equal(r.exit_code, 0);
                  assert.equal(dec.decode(r.stdout), `n${i}\n`);
                }),
            );
          } else {
            calls.push(ops[i % ops.length](c, i));
          }
        }
        // While the burst is in flight, a fresh connection still gets answers.
        const probe = new CriClient(w.skiff.socket);
        try {
          const v = await probe.call("Version", {}, { timeoutMs: 10_000 });
          assert.equal(v.runtime_name, "skiff");
        } finally {
          probe.close();
        }
        const results = await Promise.allSettled(calls);
        const failed = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
        assert.deepEqual(failed.map((f) => String(f.reason)), [], "calls failed");
      };
      // RSS after every 10 bursts (2,000 calls): V8 grows its heap for a while and then
      // levels off (measured here: ~120 MiB after the first burst, +5-25 MiB between bursts
      // 20 and 30, ~240-270 MiB flat from 30 to 100); a leak keeps climbing. A leak of
      // 20 KiB per call shows as 40 MiB per 10 bursts.
      await burst(); // warm-up: code paths compiled, pools filled
      const rss: number[] = [rssKiB(w.skiff.pid!)];
      for (let round = 1; round <= BURSTS; round++) {
        await burst();
        if (round % 10 === 0) rss.push(rssKiB(w.skiff.pid!));
      }
      console.log(`Skiff RSS (KiB) every 10 bursts of ${CALLS} calls: ${rss.join(" ")}`);
      const last = rss[rss.length - 1];
      const growth = last - rss[rss.length - 2];
      assert.ok(growth < 40 * 1024, `RSS still grew ${growth} KiB over the last 10 bursts`);
      assert.ok(last < 400 * 1024, `RSS is ${last} KiB after ${BURSTS * CALLS} calls`);
      // And it still answers afterwards, with nothing changed.
      assert.equal((await w.client.call("ListContainers", {})).containers.length, 6);
    } finally {
      for (const c of clients) c.close();
      await w.dispose();
    }
  },
});
