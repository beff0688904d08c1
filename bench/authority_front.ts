/**
 * bench/authority_front: what the `:authority` front costs per call.
 *
 *   deno run --allow-all bench/authority_front.ts [--calls 2000]
 *
 * One real Skiff (front on). The same grpc-js client code calls Version sequentially
 * through the public socket (front: frame parse, HPACK decode + re-encode, an extra unix
 * socket hop) and directly on the gRPC server's internal socket (the baseline, same
 * process, same server), in alternating rounds; plus the front with an old kubelet's
 * socket-path `:authority` (rewritten). Prints p50/p95 and the ratios to the baseline.
 */
import { parseArgs } from "node:util";
import { CriClient } from "../cri/client.ts";
import { TestSkiff } from "../tests/helpers/skiff.ts";

const { values } = parseArgs({ options: { calls: { type: "string", default: "2000" } } });
const CALLS = Number(values.calls);
const ROUNDS = 4;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function round(client: CriClient, n: number, into: number[]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.call("Version", {});
    into.push(performance.now() - t0);
  }
}

const s = await TestSkiff.create();
try {
  // Quiet logs: per-call debug lines would dominate what is measured.
  await Deno.writeTextFile(s.configPath, s.configToml().replace(`"debug"`, `"warn"`));
  await s.start();
  const clients = {
    direct: new CriClient(`${s.stateDir}/skiff-internal.sock`),
    front: new CriClient(s.socket),
    "front, old :authority": new CriClient(s.socket, {
      "grpc.default_authority": "/run/skiff/skiff.sock",
    }),
  };
  const samples: Record<string, number[]> = {};
  for (const [name, c] of Object.entries(clients)) {
    await round(c, 200, []); // warm-up: connection, JIT
    samples[name] = [];
  }
  const per = Math.ceil(CALLS / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, c] of Object.entries(clients)) await round(c, per, samples[name]);
  }
  for (const c of Object.values(clients)) c.close();

  const base50 = pct(samples.direct, 50);
  const base95 = pct(samples.direct, 95);
  console.log(`Version round trip, ${per * ROUNDS} sequential calls each (grpc-js client)\n`);
  console.log("path                      p50 ms   p95 ms   p50 ratio  p95 ratio");
  for (const [name, xs] of Object.entries(samples)) {
    const p50 = pct(xs, 50);
    const p95 = pct(xs, 95);
    console.log(
      `${name.padEnd(24)} ${p50.toFixed(3).padStart(7)}  ${p95.toFixed(3).padStart(7)}` +
        `   ${(p50 / base50).toFixed(2).padStart(8)}x ${(p95 / base95).toFixed(2).padStart(8)}x`,
    );
  }
} finally {
  await s.dispose();
}
