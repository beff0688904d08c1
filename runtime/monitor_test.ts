/** Unit tests of the conmon sync pipe and runc log parsing. */
import { assertEquals } from "../tests/container/assert.ts";
import { parseSyncMessage } from "./monitor.ts";
import { runtimeLogErrors } from "./oci.ts";

Deno.test("conmon sync pipe and runc log parsing", () => {
  assertEquals(parseSyncMessage('{"data": 1234}\n'), { data: 1234 });
  assertEquals(parseSyncMessage('{"data": -1, "message": "boom"}'), { data: -1, message: "boom" });
  assertEquals(parseSyncMessage('{"data": 12'), null);
  assertEquals(
    runtimeLogErrors('{"level":"info","msg":"x"}\n{"level":"error","msg":"no such file"}\n'),
    ["no such file"],
  );
});
