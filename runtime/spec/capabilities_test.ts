/** Unit tests of the capability sets containers get. */
import { assert, assertEquals, assertThrows } from "../../tests/container/assert.ts";
import { ALL_CAPABILITIES, capabilitySet, DEFAULT_CAPABILITIES } from "./mod.ts";

Deno.test("capabilities: containerd's default set, add/drop, ALL, privileged", () => {
  assertEquals(capabilitySet(null), DEFAULT_CAPABILITIES);
  const sc = (add: string[], drop: string[]) => ({
    capabilities: { add_capabilities: add, drop_capabilities: drop, add_ambient_capabilities: [] },
    privileged: false,
    run_as_username: "",
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge" as const,
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    apparmor_profile: "",
    seccomp_profile_path: "",
  });
  const c1 = capabilitySet(sc(["NET_ADMIN"], ["CHOWN"]));
  assert(c1.includes("CAP_NET_ADMIN"));
  assert(!c1.includes("CAP_CHOWN"));
  assertEquals(capabilitySet(sc([], ["ALL"])), []);
  assertEquals(capabilitySet(sc(["SYS_TIME"], ["ALL"])), ["CAP_SYS_TIME"]);
  assertEquals(capabilitySet(sc(["ALL"], [])), ALL_CAPABILITIES);
  assertEquals(capabilitySet({ ...sc([], ["ALL"]), privileged: true }), ALL_CAPABILITIES);
  assertThrows(() => capabilitySet(sc(["BOGUS"], [])), Error, "unknown capability");
  // Skiff cannot give what it does not hold (no CAP_SYS_RESOURCE on some nodes)
  const avail = ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE");
  assert(!capabilitySet({ ...sc([], []), privileged: true }, avail).includes("CAP_SYS_RESOURCE"));
  assert(!capabilitySet(sc(["ALL"], []), avail).includes("CAP_SYS_RESOURCE"));
  assertThrows(() => capabilitySet(sc(["SYS_RESOURCE"], []), avail), Error, "does not hold it");
});
