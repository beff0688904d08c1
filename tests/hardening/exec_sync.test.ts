/**
 * Issue 13 item 8: ExecSync output is capped below gRPC's 16 MiB message limit, so a
 * command printing more still gets its reply (truncated output, real exit code); and a
 * command too large to exec is INVALID_ARGUMENT up front, not INTERNAL "Argument list too
 * long".
 */
import assert from "node:assert/strict";
import { EXEC_COMMAND_LIMITS, EXEC_SYNC_OUTPUT_LIMIT } from "../../runtime/exec.ts";
import { containerPrerequisitesMissing, startRunningContainer } from "./running_container.ts";
import { assertNoHostPaths, expectRefusal } from "./refusal.ts";

const missing = containerPrerequisitesMissing();
if (missing) console.warn(`\n!!! SKIPPING hardening ExecSync tests: ${missing} !!!\n`);

const MiB = 1024 * 1024;

Deno.test({
  name: "hardening: ExecSync output past 16 MiB is truncated; oversized commands refused",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const { skiff, containerId, dispose } = await startRunningContainer();
    const execSync = (cmd: string[]) =>
      skiff.client.call("ExecSync", { container_id: containerId, cmd, timeout: "60" });
    try {
      await t.step(
        "17 MiB of output: the reply carries the capped output and exit code",
        async () => {
          const r = await execSync([
            "sh",
            "-c",
            `yes | head -c ${17 * MiB}; echo late >&2; exit 3`,
          ]);
          assert.equal(r.exit_code, 3);
          assert.ok(EXEC_SYNC_OUTPUT_LIMIT < 16 * MiB);
          assert.equal(r.stdout.length + r.stderr.length, EXEC_SYNC_OUTPUT_LIMIT);
          assert.equal(new TextDecoder().decode(r.stdout.subarray(0, 4)), "y\ny\n");
        },
      );

      await t.step("output on both streams shares the cap", async () => {
        const r = await execSync([
          "sh",
          "-c",
          `yes out | head -c ${9 * MiB}; yes err | head -c ${9 * MiB} >&2; exit 4`,
        ]);
        assert.equal(r.exit_code, 4);
        assert.equal(r.stdout.length + r.stderr.length, EXEC_SYNC_OUTPUT_LIMIT);
        assert.equal(r.stdout.length, 9 * MiB);
      });

      await t.step("1 MB of arguments is INVALID_ARGUMENT, in one or in many", async () => {
        const big = "x".repeat(1_000_000);
        const one = await expectRefusal(
          skiff,
          execSync(["echo", big]),
          "INVALID_ARGUMENT",
          "ExecSync with a 1 MB argument",
        );
        assert.match(one, /bytes per argument/);
        assert.ok(one.length < 1000, "the refusal does not echo the argument back");
        const many = Array.from({ length: 20 }, () => "y".repeat(50_000));
        const all = await expectRefusal(
          skiff,
          execSync(["echo", ...many]),
          "INVALID_ARGUMENT",
          "ExecSync with 1 MB in 20 arguments",
        );
        assert.match(all, new RegExp(`at most ${EXEC_COMMAND_LIMITS.maxTotalBytes} bytes`));
        await expectRefusal(
          skiff,
          execSync(["true", ...Array(EXEC_COMMAND_LIMITS.maxArgs).fill("a")]),
          "INVALID_ARGUMENT",
          "ExecSync with too many arguments",
        );
        await expectRefusal(
          skiff,
          execSync(["echo", "a\0b"]),
          "INVALID_ARGUMENT",
          "ExecSync with a NUL byte",
        );
        // Streamed exec is refused at Exec, before a URL is handed out.
        await expectRefusal(
          skiff,
          skiff.client.call("Exec", {
            container_id: containerId,
            cmd: ["echo", big],
            stdout: true,
          }),
          "INVALID_ARGUMENT",
          "Exec with a 1 MB argument",
        );
      });

      await t.step("just under the limits still runs", async () => {
        const arg = "z".repeat(EXEC_COMMAND_LIMITS.maxArgBytes);
        const r = await execSync(["sh", "-c", 'printf %s "$1" | wc -c', "sh", arg]);
        assert.equal(r.exit_code, 0);
        assert.equal(new TextDecoder().decode(r.stdout).trim(), String(arg.length));
        assertNoHostPaths(skiff, new TextDecoder().decode(r.stderr), "stderr");
      });
    } finally {
      await dispose();
    }
  },
});
