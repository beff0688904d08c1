import assert from "node:assert/strict";
import type { CommandIo } from "./command.ts";
import { findCommand, main, OPERATOR_COMMANDS, splitCommand, topLevelHelp } from "./mod.ts";

/** Runs `skiff ARGS…` in process, capturing what it prints. */
async function run(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const dec = new TextDecoder();
  const text = (d: string | Uint8Array) => typeof d === "string" ? d : dec.decode(d);
  const io: CommandIo = {
    out: async (d) => void (stdout += text(d)),
    err: async (d) => void (stderr += text(d)),
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

Deno.test("mod: the command is the first word; serve's flags may come before it", () => {
  assert.deepEqual(splitCommand([]), { name: "serve", args: [] });
  assert.deepEqual(splitCommand(["ps", "-a"]), { name: "ps", args: ["-a"] });
  assert.deepEqual(splitCommand(["--config", "c.toml"]), {
    name: "serve",
    args: ["--config", "c.toml"],
  });
  assert.deepEqual(splitCommand(["-c", "c.toml", "version"]), {
    name: "version",
    args: ["-c", "c.toml"],
  });
  assert.deepEqual(splitCommand(["--help"]), { name: "help", args: ["--help"] });
  assert.deepEqual(splitCommand(["--help", "ps"]), { name: "ps", args: ["--help"] });
  assert.throws(() => splitCommand(["--nope"]), /--nope/);
});

Deno.test("mod: top-level help lists every command", async () => {
  const r = await run("--help");
  assert.equal(r.code, 0);
  assert.equal(r.stdout, topLevelHelp() + "\n");
  for (const c of OPERATOR_COMMANDS) assert.match(r.stdout, new RegExp(`skiff ${c.name}\\b`));
  assert.match(r.stdout, /skiff version/);
  assert.match(r.stdout, /skiff config default/);
  assert.match(r.stdout, /Operator commands/);
  assert.equal((await run("help")).stdout, r.stdout);
  assert.equal(
    (await run("help", "logs")).stdout,
    (await findCommand("logs")!.load()).usage + "\n",
  );
});

Deno.test("mod: every command has its own --help", async () => {
  for (const name of ["serve", "version", "config", ...OPERATOR_COMMANDS.map((c) => c.name)]) {
    for (const flag of ["--help", "-h"]) {
      const r = await run(name, flag);
      assert.equal(r.code, 0, `${name} ${flag}`);
      assert.match(r.stdout, new RegExp(`^Usage: skiff ${name}`), name);
    }
  }
});

Deno.test("mod: unknown commands and flags exit 2 with a message and the help", async () => {
  const bad = await run("frobnicate");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^skiff: unknown command "frobnicate"\n\n/);
  const badFlag = await run("--nope");
  assert.equal(badFlag.code, 2);
  assert.match(badFlag.stderr, /^skiff: Unknown option '--nope'/);
  // A flag of another command is refused, with this command's help.
  const tail = await run("ps", "--tail", "3");
  assert.equal(tail.code, 2);
  assert.match(tail.stderr, /^skiff ps: Unknown option '--tail'/);
  assert.match(tail.stderr, /Usage: skiff ps/);
  const config = await run("config");
  assert.equal(config.code, 2);
  assert.match(config.stderr, /^skiff: unknown config command ""\nUsage: skiff config default/);
});

Deno.test("mod: usage errors exit 2 before any CRI call", async () => {
  const output = await run("ps", "-o", "xml", "--socket", "/nonexistent.sock");
  assert.equal(output.code, 2);
  assert.equal(output.stderr, 'skiff ps: --output "xml": use table or json\n');
  const socket = await run("images", "--socket", "/nonexistent.sock");
  assert.equal(socket.code, 2);
  assert.match(
    socket.stderr,
    /^skiff images: no CRI socket at \/nonexistent\.sock: is Skiff running/,
  );
  const serve = await run("serve", "--config", "/nonexistent/skiff.toml", "--log-level", "loud");
  assert.equal(serve.code, 2);
  assert.match(serve.stderr, /^skiff: /);
});

Deno.test("mod: version", async () => {
  const r = await run("version");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^skiff .+\nCRI API v1.*\ndeno .+\n$/);
});
