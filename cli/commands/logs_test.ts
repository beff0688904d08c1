import assert from "node:assert/strict";
import { FlagError, UsageError } from "../command.ts";
import { logWindow, parseLogsArgs } from "./logs.ts";

Deno.test("logs: -f follows, -t stamps", () => {
  const { values, positionals } = parseLogsArgs(["-f", "-t", "--tail", "5", "c1"]);
  assert.equal(values.follow, true);
  assert.equal(values.timestamps, true);
  assert.equal(values.tail, "5");
  assert.deepEqual(positionals, ["c1"]);
  assert.throws(() => parseLogsArgs(["--force", "c1"]), FlagError);
});

Deno.test("logs: --tail and --since", () => {
  assert.deepEqual(logWindow({}), {});
  assert.deepEqual(logWindow({ tail: "0" }), { tail: 0 });
  assert.deepEqual(logWindow({ tail: "-1" }), {});
  assert.throws(() => logWindow({ tail: "x" }), new UsageError("--tail: expected a number"));
  assert.throws(() => logWindow({ tail: "-2" }), UsageError);
  const before = Date.now();
  const { sinceMs } = logWindow({ since: "5m" });
  assert.ok(sinceMs! <= before - 300_000 + 1000 && sinceMs! >= before - 300_000 - 1000);
  assert.equal(logWindow({ since: "2024-01-02T03:04:05Z" }).sinceMs, Date.UTC(2024, 0, 2, 3, 4, 5));
  assert.throws(() => logWindow({ since: "yesterday" }), UsageError);
});
