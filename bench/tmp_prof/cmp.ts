import { TestSkiff } from "../../tests/helpers/skiff.ts";
import { BenchContainerd } from "../compare/containerd.ts";
import type { CriClient } from "../../cri/client.ts";
const s = await TestSkiff.create({ bridge: true });
await Deno.writeTextFile(
  s.configPath,
  s.configToml().replace(`log_level = "debug"`, `log_level = "info"`),
);
await s.start();
const cd = await BenchContainerd.create({
  sandboxImage: "127.0.0.1:1/pause:x",
  registryHost: "127.0.0.1:1",
});
await cd.start();
async function loop(
  c: CriClient,
  name: string,
  fn: (c: CriClient) => Promise<unknown>,
  gap: number,
  n = 200,
) {
  for (let i = 0; i < 30; i++) await fn(c);
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gap) await new Promise((r) => setTimeout(r, gap));
    const t0 = performance.now();
    await fn(c);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[n / 2];
}
for (const gap of [0, 10]) {
  for (
    const [name, fn] of [
      ["Version", (c: CriClient) => c.call("Version", {})],
      ["ListImages", (c: CriClient) => c.call("ListImages", {})],
      ["ListPodSandbox", (c: CriClient) => c.call("ListPodSandbox", {})],
      [
        "ContainerStatus(missing)",
        (c: CriClient) => c.call("ContainerStatus", { container_id: "nope" }).catch(() => {}),
      ],
    ] as const
  ) {
    const a = await loop(s.client, name, fn, gap, gap ? 60 : 300);
    const b = await loop(cd.client, name, fn, gap, gap ? 60 : 300);
    console.log(
      `gap ${gap}ms ${name}: skiff ${a.toFixed(3)} containerd ${b.toFixed(3)} ratio ${
        (a / b).toFixed(2)
      }`,
    );
  }
}
await s.stop();
await s.dispose();
await cd.dispose();
