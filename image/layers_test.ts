import assert from "node:assert/strict";
import { Store } from "../store/mod.ts";
import { type LayerRecord, LayerStore } from "./layers.ts";

const CHAIN = `sha256:${"ab".repeat(32)}`;

Deno.test("LayerStore.delete: the layer leaves the store at once, its files go in the background", async () => {
  const dir = await Deno.makeTempDir({ prefix: "skiff-layers-test-" });
  const store = new Store(`${dir}/skiff.db`);
  try {
    const layers = new LayerStore(`${dir}/layers`, store.collection<LayerRecord>("layers"));
    const root = layers.dirFor(CHAIN);
    await Deno.mkdir(`${root}/usr/lib`, { recursive: true });
    for (let i = 0; i < 200; i++) await Deno.writeTextFile(`${root}/usr/lib/f${i}`, "x");
    layers.delete(CHAIN);
    assert.equal(layers.has(CHAIN), false);
    assert.deepEqual(layers.dirsOnDisk(), []);
    // Being removed is not a leftover of an interrupted pull.
    assert.equal(layers.tempCount(), 0);
    await layers.removed();
    assert.deepEqual([...Deno.readDirSync(layers.trashDir)], []);
    // Deleting a layer that is not there is fine.
    layers.delete(CHAIN);
    await layers.removed();
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
