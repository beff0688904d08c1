import assert from "node:assert/strict";
import { defaultConfig } from "../../core/config/mod.ts";
import { closedAncestor, usernsSupport } from "./userns_probe.ts";

Deno.test("userns probe: disabled or unknown handlers and runtimes without it say why", async () => {
  const config = defaultConfig();
  config.runtime.handlers.runc.user_namespaces = false;
  config.runtime.handlers.old = { binary: "false", root: "", options: [], user_namespaces: true };
  const off = await usernsSupport(config, "runc");
  assert.equal(off.supported, false);
  assert.match(off.reason, /user_namespaces = false/);
  const old = await usernsSupport(config, "old");
  assert.equal(old.supported, false);
  assert.match(old.reason, /no "features" command/);
  assert.equal((await usernsSupport(config, "nope")).supported, false);
});

Deno.test("userns probe: the first parent others may not search", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/a/b`, { recursive: true });
    await Deno.chmod(dir, 0o755);
    await Deno.chmod(`${dir}/a`, 0o700);
    assert.equal(closedAncestor(`${dir}/a/b/not-yet`), `${dir}/a`);
    await Deno.chmod(`${dir}/a`, 0o711);
    assert.equal(closedAncestor(`${dir}/a/b`), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
