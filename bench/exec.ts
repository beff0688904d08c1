/**
 * bench/exec: ExecSync latency and exec streaming throughput, as ratios against a floor
 * measured in the same process on the same container.
 *
 * - ExecSync of `true`: Skiff's driver (runtime/exec.ts execSync) vs `runc exec` of the
 *   same container spawned directly (the floor: what any runtime must pay).
 * - Exec stdout throughput: 200 MB through the CRI streaming server (SPDY, to the Go
 *   client kubelet's libraries are built on) vs `runc exec` writing into a pipe read by
 *   this process.
 *
 * Run: deno run -A bench/exec.ts [iterations]  (root, runc, conmon, busybox-static, go)
 */
import { logger } from "../core/log.ts";
import { runtimeStreamingBackend, StreamingServer } from "../streaming/mod.ts";
import { execSync, runtimeExecArgv } from "../runtime/exec.ts";
import { RuntimeFixture, runtimePrerequisitesMissing } from "../tests/container/fixture.ts";
import { goClientMissing, runGoClient } from "../tests/helpers/go/mod.ts";

const missing = runtimePrerequisitesMissing() ?? goClientMissing();
if (missing) {
  console.error(`bench/exec: cannot run: ${missing}`);
  Deno.exit(1);
}
const iterations = Number(Deno.args[0] ?? 50);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function time(fn: () => Promise<unknown>, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

const f = await RuntimeFixture.create();
const server = new StreamingServer({
  address: "127.0.0.1:0",
  idleTimeoutMs: 0,
  streamCreationTimeoutMs: 10_000,
  backend: runtimeStreamingBackend({
    containers: f.service,
    sandboxes: { getSandbox: (id) => f.sandboxes.get(id) },
  }),
  log: logger("bench"),
});
try {
  await server.start();
  const sb = await f.pod();
  const id = await f.run(sb, { command: ["sleep", "3600"] });
  const c = f.service.getContainerForStreaming(id)!;

  // --- ExecSync latency
  const direct = async () => {
    const [bin, ...args] = runtimeExecArgv(c, ["true"], "/dev/null");
    const out = await new Deno.Command(bin, { args, stdout: "piped", stderr: "piped" }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  };
  const skiff = async () => {
    const r = await execSync(c, ["true"], 10_000);
    if (r.exitCode !== 0) throw new Error("true failed");
  };
  await direct();
  await skiff();
  const floor = await time(direct, iterations);
  const ours = await time(skiff, iterations);

  // --- Streaming throughput
  const bytes = 200 * 1024 * 1024;
  const cmd = ["head", "-c", String(bytes), "/dev/zero"];
  const pipeFloor = async () => {
    const [bin, ...args] = runtimeExecArgv(c, cmd, "/dev/null");
    const child = new Deno.Command(bin, { args, stdout: "piped", stderr: "null" }).spawn();
    let n = 0;
    for await (const chunk of child.stdout) n += chunk.length;
    await child.status;
    if (n !== bytes) throw new Error(`floor read ${n} bytes`);
  };
  const streamed = async () => {
    const url = server.url({
      kind: "exec",
      req: { containerId: id, cmd, tty: false, stdin: false, stdout: true, stderr: true },
    });
    const r = await runGoClient("spdy-exec", url, ["-stdout", "-stderr", "-discard"]);
    if (r.result.stdoutBytes !== bytes) throw new Error(`streamed ${r.result.stdoutBytes} bytes`);
  };
  await streamed(); // builds the Go client, warms up
  const floorT = (await time(pipeFloor, 3))[1];
  const streamT = (await time(streamed, 3))[1];
  const mbps = (ms: number) => bytes / 1024 / 1024 / (ms / 1000);

  const fmt = (n: number) => n.toFixed(2);
  console.log(`ExecSync \`true\` (${iterations} runs)`);
  console.log(
    `  runc exec directly : p50 ${fmt(percentile(floor, 50))} ms  p95 ${
      fmt(percentile(floor, 95))
    } ms`,
  );
  console.log(
    `  skiff execSync     : p50 ${fmt(percentile(ours, 50))} ms  p95 ${
      fmt(percentile(ours, 95))
    } ms`,
  );
  console.log(
    `  ratio              : p50 ${fmt(percentile(ours, 50) / percentile(floor, 50))}x  p95 ${
      fmt(percentile(ours, 95) / percentile(floor, 95))
    }x`,
  );
  console.log(`Exec stdout throughput (200 MB, median of 3)`);
  console.log(`  runc exec into a pipe : ${mbps(floorT).toFixed(0)} MB/s`);
  console.log(`  SPDY to the Go client : ${mbps(streamT).toFixed(0)} MB/s`);
  console.log(`  ratio                 : ${fmt(mbps(streamT) / mbps(floorT))}x of the floor`);
} finally {
  await server.stop();
  await f.dispose();
}
