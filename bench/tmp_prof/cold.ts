import { TestSkiff } from "../../tests/helpers/skiff.ts";
const s = await TestSkiff.create({ bridge: true });
await s.start();
const c = s.client;
const pod = await c.call("RunPodSandbox", {
  config: {
    metadata: { name: "p", uid: "u1", namespace: "default", attempt: 0 },
    log_directory: `${s.dir}/logs`,
  },
});
const id = pod.pod_sandbox_id;
for (let i = 0; i < 50; i++) await c.call("PodSandboxStatus", { pod_sandbox_id: id });
const strace = new Deno.Command("strace", {
  args: [
    "-f",
    "-tt",
    "-T",
    "-p",
    String(s.pid),
    "-e",
    "trace=read,write,writev,epoll_wait,epoll_pwait,recvfrom,sendto,recvmsg,sendmsg,futex,openat,statx,newfstatat",
    "-o",
    "/tmp/prof/strace.txt",
  ],
}).spawn();
await new Promise((r) => setTimeout(r, 1000));
const t: number[] = [];
for (let i = 0; i < 10; i++) {
  await new Promise((r) => setTimeout(r, 30));
  const t0 = performance.now();
  await c.call("PodSandboxStatus", { pod_sandbox_id: id });
  t.push(performance.now() - t0);
}
console.log(t.map((x) => x.toFixed(2)).join(" "));
strace.kill("SIGINT");
await strace.status;
await c.call("StopPodSandbox", { pod_sandbox_id: id });
await c.call("RemovePodSandbox", { pod_sandbox_id: id });
await s.stop();
await s.dispose();
