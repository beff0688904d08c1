/**
 * SIGHUP config reload on a real Skiff: live keys change the running process, the rest are
 * reported as needing a restart, and a broken file changes nothing.
 */
import assert from "node:assert/strict";
import { defaultConfig, parseConfig } from "../../core/config/mod.ts";
import { applyReload } from "../../core/reload.ts";
import { TestSkiff } from "../helpers/skiff.ts";

Deno.test("reload: live keys applied in place, others reported", () => {
  const current = defaultConfig();
  const heldByAService = current.image;
  const next = parseConfig(
    `log_level = "debug"\nshutdown_grace_seconds = 3\n` +
      `[image]\npinned = ["registry.k8s.io/pause:3.10"]\n` +
      `[image.registries."docker.io"]\nmirrors = ["http://127.0.0.1:5000"]\n` +
      `[runtime.handlers.runc]\nbinary = "runc"\n[runtime.handlers.kata]\nbinary = "kata-runtime"\n` +
      `[network]\nsubnet = "10.99.0.0/16"\n`,
  );
  const r = applyReload(current, next);
  assert.deepStrictEqual(r.applied.sort(), [
    "image.pinned",
    "image.registries",
    "log_level",
    "runtime.handlers",
  ]);
  assert.deepStrictEqual(r.restartNeeded.sort(), ["network.subnet", "shutdown_grace_seconds"]);
  assert.equal(current.log_level, "debug");
  assert.equal(current.shutdown_grace_seconds, 10, "restart-only key keeps its running value");
  assert.equal(current.network.subnet, "10.88.0.0/16");
  assert.deepStrictEqual(heldByAService.registries["docker.io"].mirrors, ["http://127.0.0.1:5000"]);
  assert.equal(current.runtime.handlers.kata.binary, "kata-runtime");
  assert.deepStrictEqual(applyReload(current, next).applied, [], "second reload: no change");
});

async function waitForLog(s: TestSkiff, re: RegExp, from: number): Promise<string> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const tail = (await s.log()).slice(from);
    if (re.test(tail)) return tail;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line matching ${re} within 10 s:\n${(await s.log()).slice(from)}`);
}

Deno.test("reload: SIGHUP changes log_level and a registry mirror on a running Skiff", async () => {
  const s = await TestSkiff.create();
  try {
    const base = s.configToml().replace(`log_level = "debug"`, `log_level = "info"`);
    await Deno.writeTextFile(s.configPath, base);
    await s.start();
    const statusConfig = async () =>
      JSON.parse((await s.client.call("Status", { verbose: true })).info.config);

    await s.client.call("Version", {});
    let mark = (await s.log()).length;
    assert.equal((await statusConfig()).image.registries["docker.io"], undefined);

    // Live: log_level, a mirror. Restart-only: shutdown_grace_seconds.
    await Deno.writeTextFile(
      s.configPath,
      base.replace(`log_level = "info"`, `log_level = "debug"`)
        .replace(`shutdown_grace_seconds = 5`, `shutdown_grace_seconds = 7`) +
        `[image.registries."docker.io"]\nmirrors = ["http://127.0.0.1:5999"]\n` +
        `[runtime.handlers.runc]\nbinary = "runc"\n[runtime.handlers.second]\nbinary = "runc"\n`,
    );
    Deno.kill(s.pid!, "SIGHUP");
    const reloaded = await waitForLog(s, /msg="config reloaded"/, mark);
    assert.match(reloaded, /applied=.*log_level/);
    assert.match(reloaded, /applied=.*image\.registries/);
    assert.match(reloaded, /applied=.*runtime\.handlers/);
    assert.match(reloaded, /restart needed for shutdown_grace_seconds/);
    assert.deepStrictEqual(
      (await statusConfig()).image.registries["docker.io"].mirrors,
      ["http://127.0.0.1:5999"],
    );
    assert.equal((await statusConfig()).shutdown_grace_seconds, 5);
    // A runtime handler added by the reload is offered for new pods.
    const handlers = (await s.client.call("Status", {})).runtime_handlers.map((h) => h.name);
    assert.ok(handlers.includes("second"), `handlers after reload: ${handlers}`);
    // At debug, even the quiet Version call is logged.
    mark = (await s.log()).length;
    await s.client.call("Version", {});
    await waitForLog(s, /level=debug .*msg=rpc method=Version/, mark);

    // A broken file: an error, the running config unchanged, still serving.
    await Deno.writeTextFile(s.configPath, base + `no_such_key = 1\n`);
    mark = (await s.log()).length;
    Deno.kill(s.pid!, "SIGHUP");
    const failed = await waitForLog(s, /config reload failed/, mark);
    assert.match(failed, /no_such_key/);
    assert.equal((await statusConfig()).log_level, "debug");
    assert.equal((await s.client.call("Version", {})).runtime_name, "skiff");
    assert.equal(await s.stop(), 0);
  } finally {
    await s.dispose();
  }
});
