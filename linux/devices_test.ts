import assert from "node:assert/strict";
import { deviceOf, splitDeviceNumber } from "./devices.ts";

Deno.test("splitDeviceNumber: old and large encodings", () => {
  assert.deepEqual(splitDeviceNumber((1 << 8) | 3), { major: 1, minor: 3 });
  // major 259, minor 0x10005: the minor's bits above the low 8 sit above the major's
  const rdev = (259 << 8) | 0x05 | (0x10000 << 12);
  assert.deepEqual(splitDeviceNumber(rdev), { major: 259, minor: 0x10005 });
});

Deno.test("deviceOf: /dev/null is char 1:3, a directory is no device", () => {
  const d = deviceOf("/dev/null");
  assert.equal(d?.type, "c");
  assert.equal(d?.major, 1);
  assert.equal(d?.minor, 3);
  assert.equal(deviceOf("/dev"), null);
  assert.equal(deviceOf("/does/not/exist"), null);
});
