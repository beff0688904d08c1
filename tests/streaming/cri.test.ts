/**
 * Exec, ExecSync, Attach and PortForward through CRI against a real Skiff: an image pushed
 * to a real registry on 127.0.0.1 and pulled, a pod with its own network namespace on the
 * test's own bridge, containers under conmon + runc, and the streaming URLs driven by the
 * independent Go client (moby/spdystream, gorilla/websocket).
 */
import assert from "node:assert/strict";
import { CriCallError } from "../../cri/client.ts";
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig } from "../../cri/types.ts";
import { runtimePrerequisitesMissing } from "../container/fixture.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { cleanupSkiff, podConfig } from "../sandbox/helpers.ts";
import { exitCodeFromStatus, goClientMissing, runGoClient } from "../helpers/go/mod.ts";

const missing = runtimePrerequisitesMissing() ?? registryPrerequisitesMissing() ??
  goClientMissing();
if (missing) console.error(`\n!!! SKIPPING streaming CRI tests: ${missing} !!!\n`);

async function failure(p: Promise<unknown>): Promise<CriCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CriCallError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

Deno.test({
  name: "streaming CRI: ExecSync, Exec, Attach, PortForward on a real Skiff",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    try {
      const img = await pushBusyboxImage(registry, "stest/busybox:1");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const sandbox_config = podConfig();
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", {
        config: sandbox_config,
      });
      const run = async (name: string, over: DeepPartial<ContainerConfig>) => {
        const { container_id } = await s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: {
            metadata: { name, attempt: 0 },
            image: { image: img.ref },
            log_path: `${name}/0.log`,
            ...over,
          },
          sandbox_config,
        });
        await s.client.call("StartContainer", { container_id });
        return container_id;
      };
      const id = await run("sleeper", { command: ["sleep", "600"] });

      await t.step("ExecSync: output, exit code, timeout is DEADLINE_EXCEEDED", async () => {
        const r = await s.client.call("ExecSync", {
          container_id: id,
          cmd: ["sh", "-c", "echo out; echo err >&2; exit 5"],
          timeout: "0",
        });
        assert.equal(new TextDecoder().decode(r.stdout), "out\n");
        assert.equal(new TextDecoder().decode(r.stderr), "err\n");
        assert.equal(r.exit_code, 5);
        const slow = await failure(
          s.client.call("ExecSync", { container_id: id, cmd: ["sleep", "60"], timeout: "1" }),
        );
        assert.equal(slow.codeName, "DEADLINE_EXCEEDED");
        const unknown = await failure(
          s.client.call("ExecSync", { container_id: "nosuch", cmd: ["true"], timeout: "0" }),
        );
        assert.equal(unknown.codeName, "NOT_FOUND");
      });

      await t.step("Exec: validation, then stdin/stdout/stderr and exit code", async () => {
        const bad = await failure(s.client.call("Exec", {
          container_id: id,
          cmd: ["sh"],
          tty: true,
          stdin: true,
          stdout: true,
          stderr: true,
        }));
        assert.equal(bad.codeName, "INVALID_ARGUMENT");
        const none = await failure(s.client.call("Exec", { container_id: id, cmd: ["true"] }));
        assert.equal(none.codeName, "INVALID_ARGUMENT");

        const { url } = await s.client.call("Exec", {
          container_id: id,
          cmd: ["sh", "-c", "cat; echo to-stderr >&2; exit 9"],
          stdin: true,
          stdout: true,
          stderr: true,
        });
        assert.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${s.streamingPort}/exec/`));
        const r = await runGoClient("spdy-exec", url, ["-stdin", "-stdout", "-stderr"], "piped\n");
        assert.equal(r.stdout, "piped\n");
        assert.equal(r.stderr, "to-stderr\n");
        assert.equal(exitCodeFromStatus(r.result.error), 9);
        // The same command over WebSocket (v5: stdin half-close reaches cat).
        const second = await s.client.call("Exec", {
          container_id: id,
          cmd: ["sh", "-c", "cat; echo to-stderr >&2; exit 9"],
          stdin: true,
          stdout: true,
          stderr: true,
        });
        const w = await runGoClient(
          "ws-exec",
          second.url,
          ["-stdin", "-stdout", "-stderr"],
          "ws\n",
        );
        assert.equal(w.result.protocol, "v5.channel.k8s.io");
        assert.equal(w.stdout, "ws\n");
        assert.equal(w.stderr, "to-stderr\n");
        assert.equal(exitCodeFromStatus(w.result.error), 9);
        // Single use.
        const again = await runGoClient("spdy-exec", url, ["-stdin", "-stdout", "-stderr"]);
        assert.equal(again.result.httpStatus, 404);
      });

      await t.step("Exec with a TTY: stty sees the client's size", async () => {
        const { url } = await s.client.call("Exec", {
          container_id: id,
          cmd: ["sh", "-c", "read x; stty size"],
          tty: true,
          stdin: true,
          stdout: true,
        });
        const r = await runGoClient(
          "spdy-exec",
          url,
          ["-tty", "-stdin", "-stdout", "-resize", "101x37", "-stdin-delay", "300ms"],
          "go\n",
        );
        assert.match(r.stdout, /37 101/, JSON.stringify(r));
        assert.equal(exitCodeFromStatus(r.result.error), 0);
      });

      await t.step(
        "Exec: 50 MB at full speed, 200 MB to a slow reader with flat memory",
        async () => {
          const pid = s.pid!;
          const stream = async (bytes: number, flags: string[] = []) => {
            const { url } = await s.client.call("Exec", {
              container_id: id,
              cmd: ["head", "-c", String(bytes), "/dev/zero"],
              stdout: true,
              stderr: true,
            });
            const r = await runGoClient("spdy-exec", url, [
              "-stdout",
              "-stderr",
              "-discard",
              ...flags,
            ]);
            assert.equal(r.result.stdoutBytes, bytes);
            assert.equal(exitCodeFromStatus(r.result.error), 0);
          };
          // Full speed (also the warm-up), then a client reading at 50 MB/s while the command
          // writes as fast as it can: Skiff must hold the command back, not buffer for it.
          // Without backpressure 200 MB show as +179 MiB; with it only GC lag (1-40 MiB).
          await stream(50 * 1024 * 1024);
          const before = rssKiB(pid);
          let peak = before;
          const sampler = setInterval(() => peak = Math.max(peak, rssKiB(pid)), 10);
          try {
            await stream(200 * 1024 * 1024, ["-throttle", "50"]);
          } finally {
            clearInterval(sampler);
          }
          const grownMiB = (peak - before) / 1024;
          console.log(
            `peak Skiff RSS growth for 200 MB to a slow reader: ${grownMiB.toFixed(1)} MiB`,
          );
          assert.ok(grownMiB < 100, `Skiff's RSS grew by ${grownMiB.toFixed(1)} MiB for 200 MB`);
        },
      );

      await t.step("Exec on a stopped container is FAILED_PRECONDITION", async () => {
        const quick = await run("quick", { command: ["true"] });
        for (let i = 0; i < 100; i++) {
          const { status } = await s.client.call("ContainerStatus", { container_id: quick });
          if (status?.state === "CONTAINER_EXITED") break;
          await new Promise((r) => setTimeout(r, 50));
        }
        const e = await failure(
          s.client.call("Exec", { container_id: quick, cmd: ["true"], stdout: true }),
        );
        assert.equal(e.codeName, "FAILED_PRECONDITION");
      });

      await t.step("Attach: output and stdin of a running container", async () => {
        const talker = await run("talker", {
          command: ["sh", "-c", 'while read l; do echo "echo: $l"; done; echo done'],
          stdin: true,
          stdin_once: true,
        });
        const { url } = await s.client.call("Attach", {
          container_id: talker,
          stdin: true,
          stdout: true,
          stderr: true,
        });
        assert.match(url, /\/attach\//);
        const r = await runGoClient(
          "spdy-exec",
          url,
          ["-stdin", "-stdout", "-stderr", "-stdin-delay", "200ms"],
          "a\nb\n",
        );
        assert.equal(r.stdout, "echo: a\necho: b\ndone\n", JSON.stringify(r));
      });

      await t.step("PortForward: a server inside the pod; a closed port errors", async () => {
        await run("server", { command: ["nc", "-ll", "-p", "7070", "-e", "cat"] });
        let r;
        for (let i = 0; i < 30; i++) {
          const { url } = await s.client.call("PortForward", { pod_sandbox_id: podId, port: [] });
          r = await runGoClient("spdy-pf", url, ["-port", "7070"], "through the pod netns");
          if (!r.result.error) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        assert.equal(r!.stdout, "through the pod netns", JSON.stringify(r));
        const { url } = await s.client.call("PortForward", { pod_sandbox_id: podId, port: [] });
        const closed = await runGoClient("spdy-pf", url, ["-port", "7071"], "x");
        assert.match(closed.result.error, /error forwarding port 7071.*refused/);
        // Over WebSocket (ports as ?port=, port prefix on each channel). v4 has no
        // half-close, so the server in the pod answers and closes by itself.
        await run("greeter", { command: ["nc", "-ll", "-p", "7072", "-e", "echo", "hello"] });
        let w;
        for (let i = 0; i < 30; i++) {
          const ws = await s.client.call("PortForward", { pod_sandbox_id: podId, port: [7072] });
          w = await runGoClient("ws-pf", ws.url, ["-port", "7072"]);
          if (!w.result.error) break;
          await new Promise((res) => setTimeout(res, 100));
        }
        assert.equal(w!.result.protocol, "v4.channel.k8s.io");
        assert.equal(w!.stdout, "hello\n", JSON.stringify(w));
        const nopod = await failure(
          s.client.call("PortForward", { pod_sandbox_id: "nosuchpod", port: [80] }),
        );
        assert.equal(nopod.codeName, "NOT_FOUND");
      });
    } finally {
      await cleanupSkiff(s);
      await registry.stop();
    }
  },
});
