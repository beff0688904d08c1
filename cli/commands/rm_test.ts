import assert from "node:assert/strict";
import { FlagError } from "../command.ts";
import { parseRmArgs } from "./rm.ts";

Deno.test("rm: -f is --force", () => {
  assert.equal(parseRmArgs(["-f", "a", "b"]).values.force, true);
  assert.equal(parseRmArgs(["--force", "a"]).values.force, true);
  assert.deepEqual(parseRmArgs(["a", "-f", "-o", "json"]).positionals, ["a"]);
  assert.throws(() => parseRmArgs(["--follow", "a"]), FlagError);
});
