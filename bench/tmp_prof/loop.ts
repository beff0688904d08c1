import { TestSkiff } from "/work/main/tests/helpers/skiff.ts";
const s = await TestSkiff.create({
  bridge: true,
  env: Deno.env.get("T") ? { SKIFF_CRI_TRANSPORT: "deno" } : {},
});
await s.start();
const c = s.client;
const pod = await c.call("RunPodSandbox", {
  config: {
    metadata: { name: "p", uid: "u1", namespace: "default", attempt: 0 },
    log_directory: `${s.dir}/logs`,
  },
}).catch((e) => {
  console.log("run pod failed", String(e));
  return null;
});
const id = pod?.pod_sandbox_id ?? "";
async function loop(name: string, fn: () => Promise<unknown>, n = 400) {
  for (let i = 0; i < 50; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  console.log(name, "p50", t[n / 2].toFixed(3), "p90", t[Math.floor(n * 0.9)].toFixed(3));
}
await loop("Version", () => c.call("Version", {}));
if (id) await loop("PodSandboxStatus", () => c.call("PodSandboxStatus", { pod_sandbox_id: id }));
// As critest does: right after another pod's start / stop.
const after: number[] = [];
const afterDelayed: number[] = [];
for (let i = 0; i < 30; i++) {
  const p2 = await c.call("RunPodSandbox", {
    config: {
      metadata: { name: "q" + i, uid: "q" + i, namespace: "default", attempt: 0 },
      log_directory: `${s.dir}/logs`,
    },
  });
  let t0 = performance.now();
  await c.call("PodSandboxStatus", { pod_sandbox_id: p2.pod_sandbox_id });
  after.push(performance.now() - t0);
  await new Promise((r) => setTimeout(r, 30));
  t0 = performance.now();
  await c.call("PodSandboxStatus", { pod_sandbox_id: p2.pod_sandbox_id });
  afterDelayed.push(performance.now() - t0);
  await c.call("StopPodSandbox", { pod_sandbox_id: p2.pod_sandbox_id });
  t0 = performance.now();
  await c.call("ListImages", {});
  after.push(-(performance.now() - t0));
  await c.call("RemovePodSandbox", { pod_sandbox_id: p2.pod_sandbox_id });
}
const med = (v: number[]) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)].toFixed(3);
console.log(
  "status right after RunPodSandbox",
  med(after.filter((x) => x > 0)),
  "30 ms later",
  med(afterDelayed),
  "ListImages after stop",
  med(after.filter((x) => x < 0).map((x) => -x)),
);
await loop("ListImages", () => c.call("ListImages", {}));
await loop("ListPodSandbox", () => c.call("ListPodSandbox", {}));
const log = await s.log();
const d: Record<string, number[]> = {};
for (const m of log.matchAll(/method=(\w+) code=OK duration_ms=([\d.]+)/g)) {
  (d[m[1]] ??= []).push(Number(m[2]));
}
for (const [k, v] of Object.entries(d)) {
  v.sort((a, b) => a - b);
  console.log("server", k, "p50", v[Math.floor(v.length / 2)]);
}
if (id) {
  await c.call("StopPodSandbox", { pod_sandbox_id: id });
  await c.call("RemovePodSandbox", { pod_sandbox_id: id });
}
await s.stop();
await s.dispose();
