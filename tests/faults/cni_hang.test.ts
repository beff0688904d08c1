/**
 * A CNI plugin that hangs: the test's conflist names a plugin that is a script in the
 * test's own bin dir, which starts a child and sleeps forever. With
 * `plugin_timeout_seconds = 2`, RunPodSandbox fails with a clear timeout within bounds
 * (ADD times out, the undo's DEL times out too), and nothing is left: no pinned namespace
 * files, no sandbox dirs, no plugin processes (the script and its child), no records.
 */
import { CriCallError } from "../../cri/client.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { makeTempDir, randomHex } from "../helpers/env.ts";
import { snapshot } from "../sandbox/helpers.ts";
import { assert, faultPrerequisitesMissing, sleep } from "./helpers.ts";

const ignore = faultPrerequisitesMissing() !== null;

/** Processes whose command line includes `needle`. */
function processesWith(needle: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(needle)) out.push(`${e.name}: ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

Deno.test({
  name: "a hanging CNI plugin: RunPodSandbox times out clearly and leaves nothing",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A sleep length no other process on this machine uses, to find the plugin's child.
    const marker = String(86_400 + Math.floor(Math.random() * 10_000));
    const plugin = `hang${randomHex(6)}`;
    const binDir = await makeTempDir("cni-bin");
    // TestSkiff's config ends in its [network] table: these keys land in it.
    const s = await TestSkiff.create({
      extraToml: `plugin_timeout_seconds = 2\ncni_bin_dirs = ["${binDir}", "/usr/lib/cni"]`,
    });
    try {
      await Deno.writeTextFile(
        `${binDir}/${plugin}`,
        `#!/bin/sh\n# A CNI plugin that never answers.\nsleep ${marker}\necho '{}'\n`,
        { mode: 0o755 },
      );
      await Deno.writeTextFile(
        `${s.cniConfDir}/10-hang.conflist`,
        JSON.stringify({ cniVersion: "1.0.0", name: "hang", plugins: [{ type: plugin }] }),
      );
      await s.start();
      const before = await snapshot(s);
      const t0 = performance.now();
      let err: CriCallError | undefined;
      try {
        await s.client.call("RunPodSandbox", {
          config: {
            metadata: { name: "hung", namespace: "faults", uid: crypto.randomUUID() },
            log_directory: `${s.dir}/logs`,
          },
        }, { timeoutMs: 30_000 });
      } catch (e) {
        if (!(e instanceof CriCallError)) throw e;
        err = e;
      }
      const took = performance.now() - t0;
      assert.ok(err, "RunPodSandbox succeeded through a plugin that never answers");
      assert.ok(
        err.codeName === "DEADLINE_EXCEEDED",
        `expected DEADLINE_EXCEEDED, got ${err.codeName}: ${err.message}`,
      );
      assert.match(err.message, /timed out/);
      assert.match(err.message, new RegExp(plugin));
      assert.match(err.message, /plugin_timeout_seconds is 2/);
      // ADD (2 s) plus the undo's DEL (2 s), and some slack for the machine.
      assert.ok(took >= 2000 && took < 10_000, `took ${Math.round(took)} ms`);

      // Nothing is left: the plugin's processes were killed with their group.
      for (let i = 0; i < 40 && processesWith(`sleep ${marker}`).length; i++) await sleep(50);
      assert.deepEqual(processesWith(`sleep ${marker}`), [], "the plugin's child is left");
      assert.deepEqual(processesWith(`${binDir}/${plugin}`), [], "the plugin is left");
      const after = await snapshot(s);
      assert.deepEqual(after.nsFiles, before.nsFiles, "namespace files left");
      // The namespace dir's own bind mount is made once, at the first pod, and stays.
      const mounts = after.mounts.filter((m) => m !== `${s.stateDir}/ns`);
      assert.deepEqual(mounts, before.mounts, "mounts left");
      assert.deepEqual(after.processes, before.processes, "pod processes left");
      assert.deepEqual([...Deno.readDirSync(`${s.stateDir}/sandboxes`)], []);
      assert.deepEqual((await s.client.call("ListPodSandbox", {})).items, []);
      // Skiff still serves.
      await s.client.call("Version", {});
    } finally {
      await s.dispose();
      await Deno.remove(binDir, { recursive: true });
    }
  },
});
