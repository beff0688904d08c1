import assert from "node:assert/strict";
import { parseLogLevel } from "./serve.ts";

Deno.test("serve: --log-level", () => {
  assert.equal(parseLogLevel(undefined), undefined);
  assert.equal(parseLogLevel("debug"), "debug");
  assert.throws(
    () => parseLogLevel("loud"),
    /--log-level "loud": expected debug, info, warn or error/,
  );
});
