/**
 * Exec, ExecSync, attach and port-forward against real containers (conmon + runc on a
 * busybox rootfs, in a pod with its own pinned network namespace), driven through the
 * streaming server by the independent Go client.
 */
import assert from "node:assert/strict";
import { logger } from "../../core/log.ts";
import { DeadlineExceededError, FailedPreconditionError } from "../../core/errors.ts";
import { runtimeStreamingBackend, StreamingServer } from "../../streaming/mod.ts";
import type { ExecRequest } from "../../streaming/types.ts";
import { execSync } from "../../runtime/exec.ts";
import { RuntimeFixture, runtimePrerequisitesMissing } from "../container/fixture.ts";
import { exitCodeFromStatus, goClientMissing, runGoClient } from "../helpers/go/mod.ts";

const missing = runtimePrerequisitesMissing() ?? goClientMissing();
if (missing) console.error(`\n!!! SKIPPING streaming runtime tests: ${missing} !!!\n`);

async function withRuntime(
  fn: (f: RuntimeFixture, server: StreamingServer) => Promise<void>,
): Promise<void> {
  const f = await RuntimeFixture.create();
  let server: StreamingServer | null = null;
  try {
    server = new StreamingServer({
      address: "127.0.0.1:0",
      idleTimeoutMs: 60_000,
      streamCreationTimeoutMs: 10_000,
      backend: runtimeStreamingBackend({
        containers: f.service,
        sandboxes: { getSandbox: (id) => f.sandboxes.get(id) },
      }),
      log: logger("streaming-test"),
    });
    await server.start();
    await fn(f, server);
  } finally {
    await server?.stop();
    await f.dispose();
  }
}

function container(f: RuntimeFixture, id: string) {
  const c = f.service.getContainerForStreaming(id);
  assert.ok(c, `container ${id} is known`);
  return c;
}

const t = (name: string, fn: () => Promise<void>) =>
  Deno.test({
    name: `streaming runtime: ${name}`,
    ignore: missing !== null,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });

t(
  "ExecSync: output, separate stderr, exit code, timeout kills, stopped container refused",
  async () => {
    await withRuntime(async (f) => {
      const sb = await f.pod();
      const id = await f.run(sb, { command: ["sleep", "600"] });
      const c = container(f, id);
      const r = await execSync(c, ["sh", "-c", "echo out; echo err >&2; exit 7"], 0);
      assert.equal(new TextDecoder().decode(r.stdout), "out\n");
      assert.equal(new TextDecoder().decode(r.stderr), "err\n");
      assert.equal(r.exitCode, 7);

      const capped = await execSync(c, ["sh", "-c", "yes | head -c 100000"], 0, {
        outputLimit: 1000,
      });
      assert.equal(capped.stdout.length, 1000);
      assert.equal(capped.exitCode, 0);

      const start = Date.now();
      await assert.rejects(
        () => execSync(c, ["sleep", "100"], 500),
        (e: unknown) => e instanceof DeadlineExceededError && /timed out/.test(e.message),
      );
      assert.ok(Date.now() - start < 5000);
      // The timed-out command was killed, not left running in the container.
      const ps = await execSync(c, ["ps", "-o", "args"], 0);
      assert.ok(!new TextDecoder().decode(ps.stdout).includes("sleep 100"));

      await f.service.stop(id, 0);
      await assert.rejects(
        () =>
          runtimeStreamingBackend({
            containers: f.service,
            sandboxes: { getSandbox: () => undefined },
          })
            .exec(
              {
                containerId: id,
                cmd: ["true"],
                tty: false,
                stdin: false,
                stdout: true,
                stderr: true,
              },
              { stdin: null, stdout: null, stderr: null, resize: null },
              new AbortController().signal,
            ),
        FailedPreconditionError,
      );
    });
  },
);

t("exec: stdin via cat, stderr separate, exit codes, TTY resize seen by stty", async () => {
  await withRuntime(async (f, server) => {
    const sb = await f.pod();
    const id = await f.run(sb, { command: ["sleep", "600"] });
    const url = (cmd: string[], o: Partial<ExecRequest> = {}) =>
      server.url({
        kind: "exec",
        req: { containerId: id, cmd, tty: false, stdin: false, stdout: true, stderr: true, ...o },
      });

    const cat = await runGoClient("spdy-exec", url(["cat"], { stdin: true }), [
      "-stdin",
      "-stdout",
      "-stderr",
    ], "into the container\n");
    assert.equal(cat.stdout, "into the container\n");
    assert.equal(exitCodeFromStatus(cat.result.error), 0);

    const fail = await runGoClient(
      "spdy-exec",
      url(["sh", "-c", "echo o; echo e >&2; exit 42"]),
      ["-stdout", "-stderr"],
    );
    assert.equal(fail.stdout, "o\n");
    assert.equal(fail.stderr, "e\n");
    assert.equal(exitCodeFromStatus(fail.result.error), 42);

    const tty = await runGoClient(
      "spdy-exec",
      url(["sh", "-c", "read x; stty size; echo got $x"], {
        tty: true,
        stdin: true,
        stderr: false,
      }),
      ["-tty", "-stdin", "-stdout", "-resize", "132x43", "-stdin-delay", "300ms"],
      "hello\n",
    );
    assert.match(tty.stdout, /43 132/, JSON.stringify(tty));
    assert.match(tty.stdout, /got hello/);
    assert.equal(exitCodeFromStatus(tty.result.error), 0);

    const ws = await runGoClient("ws-exec", url(["sh", "-c", "echo via ws; exit 3"]), [
      "-stdout",
      "-stderr",
    ]);
    assert.equal(ws.stdout, "via ws\n");
    assert.equal(exitCodeFromStatus(ws.result.error), 3);
  });
});

t("attach: output of a running container, stdin reaches it, stdin_once ends it", async () => {
  await withRuntime(async (f, server) => {
    const sb = await f.pod();
    const id = await f.run(sb, {
      command: ["sh", "-c", 'echo ready; while read l; do echo "got $l"; done; echo bye'],
      stdin: true,
      stdin_once: true,
    });
    const r = await runGoClient(
      "spdy-exec",
      server.url({
        kind: "attach",
        req: { containerId: id, tty: false, stdin: true, stdout: true, stderr: true },
      }),
      ["-stdin", "-stdout", "-stderr", "-stdin-delay", "200ms"],
      "one\ntwo\n",
    );
    assert.match(r.stdout, /got one\ngot two\nbye\n/, JSON.stringify(r));
    assert.equal(exitCodeFromStatus(r.result.error), 0);
    await f.waitExited(id);
  });
});

t("port-forward: to a server in the pod's netns; a closed port is an error", async () => {
  await withRuntime(async (f, server) => {
    const sb = await f.pod();
    await f.run(sb, { command: ["nc", "-ll", "-p", "8080", "-e", "cat"] });
    const url = () => server.url({ kind: "portforward", req: { podSandboxId: sb.id, ports: [] } });
    // The listener may need a moment after start.
    let r = await runGoClient("spdy-pf", url(), ["-port", "8080"], "inside the pod");
    for (let i = 0; i < 20 && r.result.error; i++) {
      await new Promise((res) => setTimeout(res, 100));
      r = await runGoClient("spdy-pf", url(), ["-port", "8080"], "inside the pod");
    }
    assert.equal(r.stdout, "inside the pod", JSON.stringify(r));
    assert.equal(r.result.error, "");
    // Nothing listens on 8080 on the host side: the pod's namespace was really used.
    const closed = await runGoClient("spdy-pf", url(), ["-port", "8081"], "x");
    assert.match(closed.result.error, /error forwarding port 8081.*Connection refused/);
  });
});

/** The exec PID files left in a container's bundle dir. */
function execPidFiles(bundleDir: string): string[] {
  return [...Deno.readDirSync(bundleDir)].filter((e) => /^exec-.*\.pid$/.test(e.name))
    .map((e) => e.name);
}

t("exec: a client that vanishes takes its command with it; no exec PID file left", async () => {
  await withRuntime(async (f, server) => {
    const sb = await f.pod();
    const id = await f.run(sb, { command: ["sleep", "600"] });
    const url = server.url({
      kind: "exec",
      req: {
        containerId: id,
        cmd: ["sleep", "321"],
        tty: false,
        stdin: true,
        stdout: true,
        stderr: true,
      },
    });
    const r = await runGoClient(
      "spdy-exec",
      url,
      ["-stdin", "-stdout", "-stderr", "-stdin-delay", "1h"],
      "",
      {
        killAfterMs: 700,
      },
    );
    assert.notEqual(r.code, 0);
    const c = container(f, id);
    let left = "";
    for (let i = 0; i < 50; i++) {
      left = new TextDecoder().decode((await execSync(c, ["ps", "-o", "args"], 0)).stdout);
      if (!left.includes("sleep 321")) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(!left.includes("sleep 321"), `exec'd command still running:\n${left}`);
    for (let i = 0; i < 50 && execPidFiles(c.bundleDir).length > 0; i++) {
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.deepEqual(execPidFiles(c.bundleDir), []);
  });
});

t("attach to a TTY container: resize through conmon's ctl FIFO is seen by stty", async () => {
  await withRuntime(async (f, server) => {
    const sb = await f.pod();
    const id = await f.run(sb, {
      command: ["sh", "-c", "read x; stty size; echo got $x"],
      tty: true,
      stdin: true,
      stdin_once: true,
    });
    const r = await runGoClient(
      "spdy-exec",
      server.url({
        kind: "attach",
        req: { containerId: id, tty: true, stdin: true, stdout: true, stderr: false },
      }),
      ["-tty", "-stdin", "-stdout", "-resize", "77x22", "-stdin-delay", "300ms"],
      "now\n",
    );
    assert.match(r.stdout, /22 77/, JSON.stringify(r));
    assert.match(r.stdout, /got now/);
    await f.waitExited(id);
  });
});
