/**
 * `deno task compile` (scripts/compile.ts). This machine has no denort base binary and no
 * internet, so the full compile is exercised with a stand-in base (a copy of the deno CLI):
 * the program and cri/api.proto get embedded, and the result is refused because it does not
 * behave as skiff. The offline paths must fail fast and say what to do.
 */
import assert from "node:assert/strict";
import { DAEMON_RUN_FLAGS } from "../../core/v8_flags.ts";
import { makeTempDir } from "../helpers/env.ts";

const SCRIPT = new URL("../../scripts/compile.ts", import.meta.url).pathname;

async function compile(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--cached-only", SCRIPT, ...args],
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

Deno.test("compile: the deno compile command embeds permissions and cri/api.proto", async () => {
  const { code, text } = await compile({}, "--dry-run", "--output", "dist/skiff");
  assert.equal(code, 0);
  assert.match(
    text,
    /compile --allow-all .*--include cri\/api\.proto .*--output dist\/skiff main\.ts/,
  );
});

Deno.test("compile: without DENORT_BIN or a cached denort it fails at once, saying what to do", async () => {
  const dir = await makeTempDir("compile");
  try {
    // An empty DENO_DIR: no cached denort to fall back on.
    const { code, text } = await compile({ DENO_DIR: dir, DENORT_BIN: "" });
    assert.equal(code, 1);
    assert.match(text, /DENORT_BIN is not set/);
    assert.match(text, /DENORT_BIN=\/path\/to\/denort deno task compile/);
    assert.match(text, /scripts\/release\.sh/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile: a DENORT_BIN that is missing or is the deno CLI itself is refused", async () => {
  const missing = await compile({ DENORT_BIN: "/nonexistent/denort" });
  assert.equal(missing.code, 1);
  assert.match(missing.text, /DENORT_BIN=\/nonexistent\/denort: no such file/);
  const cli = await compile({ DENORT_BIN: Deno.execPath() });
  assert.equal(cli.code, 1);
  assert.match(cli.text, /is the deno CLI itself, not denort/);
});

Deno.test("compile: with a stand-in base binary the program is embedded, then the result is refused", async () => {
  const dir = await makeTempDir("compile");
  try {
    const fakeDenort = `${dir}/denort`;
    await Deno.copyFile(Deno.execPath(), fakeDenort);
    await Deno.chmod(fakeDenort, 0o755);
    const output = `${dir}/out/skiff`;
    const { code, text } = await compile({ DENORT_BIN: fakeDenort }, "--output", output);
    assert.equal(code, 1, text);
    assert.match(text, /Embedded Files/);
    assert.match(text, /api\.proto/);
    assert.match(text, /does not behave as skiff/);
    await assert.rejects(Deno.lstat(output), Deno.errors.NotFound, "a wrong binary is not left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno task start runs the daemon with its shipped deno and V8 flags", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const start: string = config.tasks.start;
  for (const flag of DAEMON_RUN_FLAGS) {
    assert.ok(start.split(" ").includes(flag), `${flag} missing from the start task: ${start}`);
  }
});
