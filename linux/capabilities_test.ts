import assert from "node:assert/strict";
import {
  capabilitiesInMask,
  CAPABILITY_NAMES,
  capabilityMask,
  hasCapability,
} from "./capabilities.ts";

const STATUS = "Name:\tskiff\nCapEff:\t0000000001000001\nCapBnd:\t000001ffffffffff\n";

Deno.test("capabilityMask reads one set of a status text", () => {
  assert.equal(capabilityMask(STATUS, "CapEff"), 0x1000001n);
  assert.equal(capabilityMask(STATUS, "CapBnd"), 0x1ffffffffffn);
  assert.equal(capabilityMask("Name:\tx\n", "CapEff"), 0n);
});

Deno.test("capabilitiesInMask names bits in kernel order", () => {
  assert.deepEqual(capabilitiesInMask(0x1000001n), ["CAP_CHOWN", "CAP_SYS_RESOURCE"]);
  assert.deepEqual(capabilitiesInMask(0x1ffffffffffn), CAPABILITY_NAMES);
  assert.deepEqual(capabilitiesInMask(1n << 60n), []);
  assert.equal(CAPABILITY_NAMES[24], "CAP_SYS_RESOURCE");
});

Deno.test("hasCapability: unknown names are never held", () => {
  assert.equal(hasCapability("CAP_NOT_A_THING"), false);
});
