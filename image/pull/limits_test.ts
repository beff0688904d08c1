import assert from "node:assert/strict";
import { defaultConfig } from "../../core/config/mod.ts";
import { layerCap, mountableLayers, OVERLAY_MAX_LOWER } from "./limits.ts";

Deno.test("limits: with lowerdir+ (Linux ≥ 6.8) a rootfs holds overlayfs's 500 layers", () => {
  assert.equal(mountableLayers("/var/lib/skiff", true), OVERLAY_MAX_LOWER);
  assert.equal(mountableLayers("/s", true), 500);
  // A root so long that a layer path passes fsconfig's 255 bytes: back to one page.
  assert.equal(mountableLayers("/r".repeat(100), true), mountableLayers("/r".repeat(100), false));
  assert(mountableLayers("/r".repeat(100), true) < 20);
});

Deno.test("limits: without lowerdir+ one mount(2) page holds 38 layers under /var/lib/skiff", () => {
  assert.equal(mountableLayers("/var/lib/skiff", false), 38);
  assert.equal(mountableLayers("/s", false), 44); // shorter roots fit more
  assert(mountableLayers("/".repeat(3000), false) >= 1);
  assert(mountableLayers("", false) <= OVERLAY_MAX_LOWER);
});

Deno.test("limits: the layer cap is the smaller of image.max_layers and what mounts", () => {
  const c = defaultConfig();
  c.root_dir = "/var/lib/skiff";
  assert.deepEqual(layerCap(c, false).max, 38);
  assert.equal(c.image.max_layers, 500);
  assert.deepEqual(layerCap(c, true), {
    max: 500,
    why: "overlayfs stacks at most 500 lower layers",
  });
  c.image.max_layers = 10;
  assert.deepEqual(layerCap(c, false), { max: 10, why: "image.max_layers" });
  assert.deepEqual(layerCap(c, true), { max: 10, why: "image.max_layers" });
});
