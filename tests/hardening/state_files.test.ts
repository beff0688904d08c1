/**
 * Issue 13 item 11: Skiff's own state is private. The database and its WAL/SHM (which hold
 * every container's environment), the admin token, the instance lock and each bundle's
 * config.json are 0600; the directories holding them are not writable by others; and a
 * database left 0644 by an older Skiff is narrowed at the next start.
 */
import assert from "node:assert/strict";
import { containerPrerequisitesMissing, startRunningContainer } from "./running_container.ts";

const missing = containerPrerequisitesMissing();
if (missing) console.warn(`\n!!! SKIPPING hardening state-file tests: ${missing} !!!\n`);

function modeOf(path: string): number {
  return Deno.statSync(path).mode! & 0o7777;
}

function octal(mode: number): string {
  return "0" + mode.toString(8);
}

function assertMode(path: string, want: number): void {
  assert.equal(octal(modeOf(path)), octal(want), `${path} has mode ${octal(modeOf(path))}`);
}

/** Every file under `dir` (no symlinks followed; rootfs mounts skipped). */
function* walk(dir: string): Generator<string> {
  for (const e of Deno.readDirSync(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.name === "rootfs" || e.name === "layers" || e.isSymlink) continue;
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile) yield p;
  }
}

Deno.test({
  name: "hardening: skiff.db, its WAL/SHM, token, lock and bundles' config.json are 0600",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { skiff, containerId, dispose } = await startRunningContainer({}, {
      envs: [{ key: "PASSWORD", value: new TextEncoder().encode("hunter2") }],
    });
    try {
      const db = `${skiff.rootDir}/skiff.db`;
      for (const f of [db, `${db}-wal`, `${db}-shm`]) assertMode(f, 0o600);
      assertMode(`${skiff.rootDir}/admin.token`, 0o600);
      assertMode(`${skiff.rootDir}/skiff.lock`, 0o600);
      for (const d of [skiff.rootDir, skiff.stateDir]) {
        assert.equal(modeOf(d) & 0o022, 0, `${d} is writable by others: ${octal(modeOf(d))}`);
      }
      // The container's environment is in its bundle's config.json: only root may read it.
      const configs = [...walk(skiff.rootDir), ...walk(skiff.stateDir)]
        .filter((p) => p.endsWith("/config.json") && p.includes(containerId));
      assert.ok(configs.length > 0, `no config.json for ${containerId}`);
      for (const c of configs) {
        assert.match(await Deno.readTextFile(c), /hunter2/);
        assertMode(c, 0o600);
      }
      // Nothing that holds the secret is readable by others.
      for (const f of [...walk(skiff.rootDir), ...walk(skiff.stateDir)]) {
        let text: string;
        try {
          text = await Deno.readTextFile(f);
        } catch {
          continue; // sockets, FIFOs
        }
        if (text.includes("hunter2")) {
          assert.equal(modeOf(f) & 0o077, 0, `${f} holds the secret with ${octal(modeOf(f))}`);
        }
      }

      // An older Skiff made them 0644: the next start narrows them.
      await skiff.kill();
      for (const f of [db, `${db}-wal`, `${db}-shm`]) {
        await Deno.chmod(f, 0o644).catch(() => {});
      }
      await skiff.start();
      for (const f of [db, `${db}-wal`, `${db}-shm`]) assertMode(f, 0o600);
    } finally {
      await dispose();
    }
  },
});
