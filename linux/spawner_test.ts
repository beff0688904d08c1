import assert from "node:assert/strict";
import { runToCompletion, spawnerState, stopSpawner } from "./spawner.ts";

Deno.test("spawner: commands run to completion in the worker: PID, output, exit, limits", async () => {
  try {
    let pid = 0;
    const ok = await runToCompletion(
      { program: "sh", args: ["-c", "echo out; echo err >&2; exit 3"], outputLimit: 1024 },
      (p) => pid = p,
    );
    assert.ok(pid > 0 && pid !== Deno.pid, `a child's PID (${pid})`);
    assert.equal(ok.code, 3);
    assert.equal(ok.success, false);
    assert.equal(new TextDecoder().decode(ok.stdout), "out\n");
    assert.equal(new TextDecoder().decode(ok.stderr), "err\n");
    // stdin in, a shared output budget, a clean environment.
    const capped = await runToCompletion({
      program: "sh",
      args: ["-c", 'cat; echo "[$HOME]"; echo 0123456789 >&2'],
      stdin: new TextEncoder().encode("abc"),
      env: { PATH: "/usr/bin:/bin" },
      clearEnv: true,
      outputLimit: 8,
      sharedOutputLimit: true,
    });
    assert.equal(capped.stdout.length + capped.stderr.length, 8);
    assert.ok(new TextDecoder().decode(capped.stdout).startsWith("abc[]"));
    // Killed by PID from the caller's thread.
    const killed = await runToCompletion(
      { program: "sleep", args: ["30"], outputLimit: 16 },
      (p) => Deno.kill(p, "SIGKILL"),
    );
    assert.equal(killed.signal, "SIGKILL");
    // A program that does not exist: the same error class as Deno.Command's.
    await assert.rejects(
      runToCompletion({ program: "/nonexistent/skiff-test", args: [], outputLimit: 16 }),
      Deno.errors.NotFound,
    );
    // Many at once.
    const all = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => runToCompletion({ program: "sh", args: ["-c", `echo ${i}`], outputLimit: 16 }),
      ),
    );
    assert.deepEqual(all.map((r) => new TextDecoder().decode(r.stdout).trim()), [
      ...Array.from({ length: 20 }, (_, i) => String(i)),
    ]);
  } finally {
    stopSpawner();
  }
});

Deno.test("spawner: it is the worker that runs them; stopped, the next command starts one", async () => {
  try {
    await runToCompletion({ program: "true", args: [], outputLimit: 1 });
    assert.deepEqual(spawnerState(), { worker: true, ready: true, onMainThread: false });
    stopSpawner();
    assert.deepEqual(spawnerState(), { worker: false, ready: false, onMainThread: false });
    const r = await runToCompletion({ program: "true", args: [], outputLimit: 1 });
    assert.equal(r.code, 0);
    assert.equal(spawnerState().worker, true);
  } finally {
    stopSpawner();
  }
});
