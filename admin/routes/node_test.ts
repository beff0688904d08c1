import assert from "node:assert/strict";
import { countActive, sumUsedBytes } from "./node.ts";

Deno.test("node: used bytes summed, null when the list is not available", () => {
  assert.equal(sumUsedBytes(undefined), null);
  assert.equal(sumUsedBytes([]), 0);
  assert.equal(sumUsedBytes([{ used_bytes: { value: "10" } }, { used_bytes: null }, {}]), 10);
});

Deno.test("node: counts of all and active, null when not available", () => {
  assert.equal(countActive(undefined, () => true), null);
  assert.deepEqual(countActive([1, 2, 3], (x) => x > 1), { total: 3, active: 2 });
});
