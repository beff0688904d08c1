import assert from "node:assert/strict";
import { defaultConfig } from "../../core/config/mod.ts";
import { layerCap, mountableLayers, OVERLAY_MAX_LOWER } from "./limits.ts";

Deno.test("limits: one overlay mount holds 38 layers under /var/lib/skiff (checked by mount)", () => {
  assert.equal(mountableLayers("/var/lib/skiff"), 38);
  assert.equal(mountableLayers("/s"), 44); // shorter roots fit more
  assert(mountableLayers("/".repeat(3000)) >= 1);
  assert(mountableLayers("") <= OVERLAY_MAX_LOWER);
});

Deno.test("limits: the layer cap is the smaller of image.max_layers and what mounts", () => {
  const c = defaultConfig();
  c.root_dir = "/var/lib/skiff";
  assert.deepEqual(layerCap(c).max, 38);
  c.image.max_layers = 10;
  assert.deepEqual(layerCap(c), { max: 10, why: "image.max_layers" });
});
