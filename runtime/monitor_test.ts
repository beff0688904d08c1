import assert from "node:assert/strict";
import { parseSyncMessage } from "./monitor.ts";

Deno.test("parseSyncMessage: conmon's sync pipe messages, partial ones are not yet any", () => {
  assert.deepEqual(parseSyncMessage('{"data": 1234}\n'), { data: 1234 });
  assert.deepEqual(parseSyncMessage('{"data": -1, "message": "boom"}'), {
    data: -1,
    message: "boom",
  });
  assert.equal(parseSyncMessage('{"data": 12'), null);
});
