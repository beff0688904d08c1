/**
 * Pull metrics on a real Skiff's admin `/metrics`: `skiff_image_pull_bytes_total` equals
 * the blob bytes actually fetched from the registry (concurrent and repeated pulls of one
 * image count them once), and durations are observed once per pull by result.
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { buildBusyboxImage, type BuiltImage, file, pushImage } from "../helpers/oci_build.ts";
import { CriCallError } from "../../cri/client.ts";

const skip = registryPrerequisitesMissing();
const opts = { ignore: skip !== null, sanitizeResources: false, sanitizeOps: false };

async function scrape(s: TestSkiff): Promise<string> {
  const res = await fetch(s.adminUrl("/metrics"), {
    headers: { authorization: `Bearer ${await s.adminToken()}` },
  });
  assertEquals(res.status, 200);
  return await res.text();
}

/** The value of the one sample whose name and labels are exactly `series` (0 if absent). */
function sample(text: string, series: string): number {
  const lines = text.split("\n").filter((l) => l.startsWith(`${series} `));
  assert(lines.length <= 1, `${series} appears ${lines.length} times:\n${lines.join("\n")}`);
  return lines.length ? Number(lines[0].slice(series.length + 1)) : 0;
}

/** Sizes of the blobs (configs and layers) of `images`, by digest. */
function blobSizes(...images: BuiltImage[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const img of images) {
    for (const b of [img.config, ...img.layers]) out.set(b.digest, b.bytes.length);
  }
  return out;
}

/** Bytes of the blob GETs the registry served since `from` (its request log). */
async function blobBytesServed(
  registry: TestRegistry,
  from: number,
  sizes: Map<string, number>,
): Promise<number> {
  const gets = (await registry.requests()).slice(from)
    .filter((r) => r.startsWith("GET ") && r.includes("/blobs/"));
  let total = 0;
  for (const g of gets) {
    const size = sizes.get(g.slice(g.lastIndexOf("/") + 1));
    assert(size !== undefined, `unexpected blob request ${g}`);
    total += size;
  }
  return total;
}

Deno.test({
  name: "metrics: pull bytes equal the blob bytes fetched, each pull counted once",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      await s.start();
      const c = s.client;
      const base = await buildBusyboxImage();
      const a = await pushImage(registry, "test/metered:a", base);
      const derived = await buildBusyboxImage({ extraLayers: [[file("extra", "x".repeat(4096))]] });
      const b = await pushImage(registry, "test/metered:b", derived);
      const sizes = blobSizes(base, derived);
      assertEquals(sample(await scrape(s), "skiff_image_pull_bytes_total"), 0);

      // Three concurrent pulls of one image, then a repeat: its blobs are fetched once.
      let logMark = (await registry.requests()).length;
      await Promise.all([1, 2, 3].map(() => c.call("PullImage", { image: { image: a.ref } })));
      await c.call("PullImage", { image: { image: a.ref } });
      const fetchedA = await blobBytesServed(registry, logMark, sizes);
      const sizeA = base.config.bytes.length + base.layers[0].bytes.length;
      assertEquals(fetchedA, sizeA);
      let text = await scrape(s);
      assertEquals(sample(text, "skiff_image_pull_bytes_total"), fetchedA);
      const status = await c.call("ImageStatus", { image: { image: a.ref } });
      assertEquals(Number(status.image?.size), sizeA);

      // An image sharing the base layer: only its own config and extra layer are fetched.
      logMark = (await registry.requests()).length;
      await c.call("PullImage", { image: { image: b.ref } });
      const fetchedB = await blobBytesServed(registry, logMark, sizes);
      assertEquals(fetchedB, derived.config.bytes.length + derived.layers[1].bytes.length);
      text = await scrape(s);
      assertEquals(sample(text, "skiff_image_pull_bytes_total"), fetchedA + fetchedB);

      // A failed pull fetches nothing and is timed under its gRPC code.
      const missing = await c.call("PullImage", { image: { image: `${registry.host}/nope:1` } })
        .then(() => null, (e) => e);
      assert(missing instanceof CriCallError && missing.codeName === "NOT_FOUND", `${missing}`);
      text = await scrape(s);
      assertEquals(sample(text, "skiff_image_pull_bytes_total"), fetchedA + fetchedB);
      assertEquals(sample(text, 'skiff_image_pull_duration_seconds_count{result="ok"}'), 5);
      assertEquals(sample(text, 'skiff_image_pull_duration_seconds_count{result="NOT_FOUND"}'), 1);
      assertEquals(sample(text, 'skiff_image_pulls_total{result="ok"}'), 5);
      assertEquals(
        text.split("\n").filter((l) => l.startsWith("# TYPE skiff_image_pull_bytes_total ")).length,
        1,
      );
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});
