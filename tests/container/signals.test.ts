/** Unit tests of stop-signal parsing (CRI enum names, image StopSignal forms). */
import { assertEquals } from "./assert.ts";
import { parseSignal } from "../../runtime/container.ts";

Deno.test("signals: CRI enum names, image StopSignal forms", () => {
  assertEquals(parseSignal("SIGINT"), "SIGINT");
  assertEquals(parseSignal("QUIT"), "SIGQUIT");
  assertEquals(parseSignal("9"), "9");
  assertEquals(parseSignal("RUNTIME_DEFAULT"), null);
  assertEquals(parseSignal("SIGRTMINPLUS1"), "35");
  assertEquals(parseSignal("bogus"), null);
});
