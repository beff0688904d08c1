import assert from "node:assert/strict";
import { defaultConfig } from "../../core/config/mod.ts";
import { cgroupDriver, runtimeConditions, runtimeHandlers } from "./runtime_info.ts";

Deno.test("runtimeHandlers: the default handler again under the empty name", () => {
  const config = defaultConfig();
  config.runtime.handlers.userns = { ...config.runtime.handlers.runc, user_namespaces: true };
  const handlers = runtimeHandlers(config, { runc: false, userns: true });
  assert.deepEqual(handlers.map((h) => h.name), ["", "runc", "userns"]);
  assert.equal(handlers[0].features?.user_namespaces, false);
  assert.equal(handlers[2].features?.user_namespaces, true);
  // Only what the probe confirmed is reported; the default handler follows its own entry.
  config.runtime.default_handler = "userns";
  const probed = runtimeHandlers(config, { userns: true });
  assert.deepEqual(probed.map((h) => h.features?.user_namespaces), [true, false, true]);
  assert.ok(handlers.every((h) => h.features?.recursive_read_only_mounts));
});

Deno.test("runtimeConditions and cgroupDriver", () => {
  const ok = { ready: true, reason: "", message: "" };
  const no = { ready: false, reason: "NetworkPluginNotReady", message: "no CNI config" };
  assert.deepEqual(runtimeConditions(ok, no), [
    { type: "RuntimeReady", status: true, reason: "", message: "" },
    {
      type: "NetworkReady",
      status: false,
      reason: "NetworkPluginNotReady",
      message: "no CNI config",
    },
  ]);
  const config = defaultConfig();
  config.cgroup_driver = "systemd";
  assert.equal(cgroupDriver(config), "SYSTEMD");
  config.cgroup_driver = "cgroupfs";
  assert.equal(cgroupDriver(config), "CGROUPFS");
});
