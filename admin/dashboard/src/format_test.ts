import assert from "node:assert/strict";
import { ageFrom, bytes, shortId, splitTag } from "./format.ts";

Deno.test("dashboard format: ages", () => {
  const now = Date.parse("2024-01-02T00:00:00Z");
  assert.equal(ageFrom(null, now), "");
  assert.equal(ageFrom("2024-01-01T23:59:18Z", now), "42s");
  assert.equal(ageFrom("2024-01-01T23:55:00Z", now), "5m");
  assert.equal(ageFrom("2024-01-01T20:53:00Z", now), "3h7m");
  assert.equal(ageFrom("2023-12-30T20:00:00Z", now), "2d4h");
  assert.equal(ageFrom("2024-01-03T00:00:00Z", now), "0s");
});

Deno.test("dashboard format: sizes, IDs, tags", () => {
  assert.equal(bytes(null), "—");
  assert.equal(bytes(999), "999 B");
  assert.equal(bytes(1500), "1.50 kB");
  assert.equal(bytes("25000000"), "25.0 MB");
  assert.equal(shortId("sha256:0123456789abcdef"), "0123456789ab");
  assert.equal(shortId(undefined), "");
  assert.deepEqual(splitTag("localhost:5000/app:1.2"), ["localhost:5000/app", "1.2"]);
  assert.deepEqual(splitTag("localhost:5000/app"), ["localhost:5000/app", "<none>"]);
  assert.deepEqual(splitTag("<none>:<none>"), ["<none>", "<none>"]);
});
