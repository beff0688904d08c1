/** The `skiff` command line. */
import assert from "node:assert/strict";
import { defaultConfig, parseConfig } from "../../core/config/mod.ts";
import { SKIFF_VERSION } from "../../core/version.ts";
import { makeTempDir } from "../helpers/env.ts";
import { skiffRunArgs } from "../helpers/skiff.ts";

async function skiff(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: skiffRunArgs([...args]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("cli: version", async () => {
  const r = await skiff("version");
  assert.equal(r.code, 0);
  assert.ok(r.stdout.includes(`skiff ${SKIFF_VERSION}`));
  assert.ok(r.stdout.includes("CRI API v1"));
});

Deno.test("cli: `config default` prints a file that parses back to the defaults", async () => {
  const r = await skiff("config", "default");
  assert.equal(r.code, 0);
  assert.deepEqual(parseConfig(r.stdout), defaultConfig());
});

Deno.test("cli: --help everywhere, and unknown commands fail with usage", async () => {
  for (
    const args of [["--help"], ["serve", "--help"], ["version", "--help"], ["config", "--help"]]
  ) {
    const r = await skiff(...args);
    assert.equal(r.code, 0, args.join(" "));
    assert.match(r.stdout, /Usage/);
  }
  const top = await skiff("--help");
  assert.match(top.stdout, /skiff version/);
  assert.match(top.stdout, /skiff config default/);
  assert.match(top.stdout, /Operator commands/);
  const bad = await skiff("frobnicate");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command "frobnicate"/);
  const badFlag = await skiff("--nope");
  assert.equal(badFlag.code, 2);
});

Deno.test("cli: serve refuses a bad config naming the key and the file", async () => {
  const dir = await makeTempDir("cli");
  try {
    await Deno.writeTextFile(`${dir}/c.toml`, `[image]\nmax_concurent_downloads = 2\n`);
    const r = await skiff("serve", "--config", `${dir}/c.toml`);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(`${dir}/c.toml`));
    assert.ok(r.stderr.includes(`"image.max_concurent_downloads"`));
    assert.ok(r.stderr.includes("max_concurrent_downloads"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
