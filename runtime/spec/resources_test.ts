/** Unit tests of the resource rules of the spec. */
import { assertEquals } from "../../tests/container/assert.ts";
import { clampOomScoreAdj } from "./mod.ts";

Deno.test("oom_score_adj: lowered requests are clamped to the floor when restricted", () => {
  assertEquals(clampOomScoreAdj(-999, 0), 0);
  assertEquals(clampOomScoreAdj(500, 0), 500);
  assertEquals(clampOomScoreAdj(-999, null), -999);
});
