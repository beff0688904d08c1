import assert from "node:assert/strict";
import { FlagError, UsageError } from "../command.ts";
import { splitExecArgs } from "../exec_args.ts";
import { execTimeout, parseExecArgs } from "./exec.ts";

Deno.test("exec: flags end at the container; -t is --tty", () => {
  assert.deepEqual(splitExecArgs(["-it", "c1", "sh", "-c", "ls -l"]), {
    options: ["-i", "--tty"],
    command: ["c1", "sh", "-c", "ls -l"],
  });
  assert.deepEqual(splitExecArgs(["--timeout", "5", "-ti", "--", "c1", "-x"]), {
    options: ["--timeout", "5", "-i", "--tty"],
    command: ["c1", "-x"],
  });
  const parsed = parseExecArgs(["-i", "-o", "json", "c1", "cat", "-n"]);
  assert.equal(parsed.values.interactive, true);
  assert.equal(parsed.values.tty, undefined);
  assert.equal(parsed.values.output, "json");
  assert.deepEqual(parsed.command, ["c1", "cat", "-n"]);
  assert.throws(() => parseExecArgs(["-f", "c1", "ls"]), FlagError);
});

Deno.test("exec: --timeout in whole seconds", () => {
  assert.equal(execTimeout(undefined), 0);
  assert.equal(execTimeout("30"), 30);
  assert.throws(() => execTimeout("1.5"), UsageError);
  assert.throws(() => execTimeout("-1"), UsageError);
});
