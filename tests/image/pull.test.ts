/**
 * Pull behaviour against a real registry, in process: one download per blob under
 * concurrent pulls, digest mismatches store nothing, cancellation and the no-progress
 * timeout leave no temp files, platform selection from indexes (OCI and Docker lists),
 * removal refused while a container uses the image, pinned images, GC at start-up.
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import {
  buildBusyboxImage,
  buildImage,
  corruptBlobInRegistry,
  file,
  pushImage,
  pushIndex,
} from "../helpers/oci_build.ts";
import { errorKind } from "../../core/errors.ts";
import { ImageFixture, waitFor } from "./fixture.ts";
import { StallingProxy } from "./proxy.ts";

const skip = registryPrerequisitesMissing();
const opts = { ignore: skip !== null, sanitizeResources: false, sanitizeOps: false };

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert(e instanceof Error);
    return e;
  }
  throw new Error("expected the pull to fail");
}

Deno.test({
  name: "pull: concurrent pulls of one image and of images sharing a layer download each blob once",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create();
    try {
      const base = await buildBusyboxImage();
      const a = await pushImage(registry, "test/shared:a", base);
      const derived = await buildBusyboxImage({ extraLayers: [[file("extra", "x")]] });
      const b = await pushImage(registry, "test/shared:b", derived);
      const before = (await registry.requests()).length;
      const ids = await Promise.all([
        fx.images.pull(a.ref),
        fx.images.pull(a.ref),
        fx.images.pull(a.ref),
        fx.images.pull(b.ref),
      ]);
      assertEquals(ids, [a.imageId, a.imageId, a.imageId, b.imageId]);
      const gets = (await registry.requests()).slice(before).filter((r) =>
        r.startsWith("GET ") && r.includes("/blobs/")
      );
      const baseLayer = base.layers[0].digest;
      assertEquals(gets.filter((r) => r.endsWith(baseLayer)).length, 1, gets.join("\n"));
      // Every blob fetched at most once.
      assertEquals(new Set(gets).size, gets.length, gets.join("\n"));
      assertEquals(fx.images.downloads.get(baseLayer), 1);
      assertEquals(fx.layerDirCount(), 2);
      assertEquals(fx.leftovers(), 0);
      const metrics = fx.metrics.render();
      assert(metrics.includes(`skiff_image_pulls_total{result="ok"} 4`), metrics);
      assert(metrics.includes("skiff_images 2"), metrics);
      assert(/skiff_image_pull_bytes_total \d{6,}/.test(metrics), metrics);
    } finally {
      await fx.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "pull: a digest mismatch (config or layer) fails the pull and stores nothing",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create();
    try {
      const img1 = await buildImage({ layers: [[file("a", "one")]] });
      const p1 = await pushImage(registry, "test/corrupt:config", img1);
      await corruptBlobInRegistry(registry, img1.config.digest);
      const e1 = await failure(fx.images.pull(p1.ref));
      assert(/hashes to/.test(e1.message), e1.message);

      const img2 = await buildImage({
        layers: [{ entries: [file("b", "x".repeat(5000))], compression: "none" }],
      });
      const p2 = await pushImage(registry, "test/corrupt:layer", img2);
      await corruptBlobInRegistry(registry, img2.layers[0].digest);
      const e2 = await failure(fx.images.pull(p2.ref));
      assert(/corrupt|hashes to|checksum/.test(e2.message), e2.message);

      assertEquals(fx.images.list(), []);
      assertEquals(fx.images.content.list(), []);
      assertEquals(fx.layerDirCount(), 0);
      assertEquals(fx.leftovers(), 0);
    } finally {
      await fx.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "pull: cancellation and the no-progress timeout stop the pull and leave no temp files",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const proxy = new StallingProxy(registry.url);
    const fx = await ImageFixture.create((c) => {
      c.image.progress_timeout_seconds = 1;
      c.image.registries[registry.host] = {
        mirrors: [proxy.url],
        skip_upstream: true,
        insecure: false,
        username: "",
        password: "",
        auth: "",
        identity_token: "",
      };
    });
    try {
      const img = await buildImage({
        layers: [{
          entries: [file("big", crypto.getRandomValues(new Uint8Array(50_000)))],
          compression: "none",
        }],
      });
      const p = await pushImage(registry, "test/stall:1", img);
      // Cancelled by the caller while the layer download hangs.
      const ac = new AbortController();
      const pulling = failure(fx.images.pull(p.ref, { signal: ac.signal }));
      await waitFor(() => fx.images.content.ingestCount() > 0, 5000, "download to start");
      ac.abort();
      const cancelled = await pulling;
      assertEquals(errorKind(cancelled), "cancelled");
      await waitFor(() => fx.leftovers() === 0, 5000, "temp files to go");

      // Nobody cancels, but nothing moves for progress_timeout_seconds.
      const started = Date.now();
      const stalled = await failure(fx.images.pull(p.ref));
      assertEquals(errorKind(stalled), "deadline_exceeded");
      assert(/no byte arrived for 1 s/.test(stalled.message), stalled.message);
      assert(Date.now() - started < 5000);
      assertEquals(fx.leftovers(), 0);
      assertEquals(fx.images.content.list(), []);

      // The same pull succeeds once the registry moves again, also with blobs redirected.
      proxy.stall = false;
      proxy.redirectBlobs = true;
      const seen = proxy.requests.length;
      assertEquals(await fx.images.pull(p.ref), img.config.digest);
      assert(proxy.requests.slice(seen).some((r) => r.includes(img.layers[0].digest)));
    } finally {
      await fx.dispose();
      await proxy.close();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "pull: 5xx answers are retried with backoff",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const proxy = new StallingProxy(registry.url);
    proxy.stall = false;
    const fx = await ImageFixture.create((c) => {
      c.image.registries[registry.host] = {
        mirrors: [proxy.url],
        skip_upstream: true,
        insecure: false,
        username: "",
        password: "",
        auth: "",
        identity_token: "",
      };
    });
    try {
      const img = await buildImage({ layers: [[file("a", "a")]] });
      const p = await pushImage(registry, "test/flaky:1", img);
      proxy.failNext = 2;
      assertEquals(await fx.images.pull(p.ref), img.config.digest);
      // The manifest request was answered 503 twice, then served.
      assertEquals(proxy.requests.slice(0, 3), Array(3).fill("GET /v2/test/flaky/manifests/1"));
    } finally {
      await fx.dispose();
      await proxy.close();
      await registry.stop();
    }
  },
});

Deno.test({
  name:
    "pull: indexes resolve to this node's platform; a missing platform lists the available ones",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create((c) => c.image.platform = "linux/amd64");
    try {
      const amd = await buildImage({ layers: [[file("arch", "amd64")]] });
      const arm = await buildImage({
        layers: [{ entries: [file("arch", "arm64")], compression: "zstd" }],
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      });
      const oci = await pushIndex(registry, "test/multi:oci", [arm, amd]);
      assertEquals(await fx.images.pull(oci.ref), amd.config.digest);
      const rec = fx.images.resolve(oci.ref)!;
      assertEquals(rec.repoDigests, [`${oci.repository}@${oci.manifestDigest}`]);
      assertEquals(rec.manifestDigest, amd.manifest.digest);

      const dAmd = await buildImage({ layers: [[file("arch", "d-amd64")]], format: "docker" });
      const dArm = await buildImage({
        layers: [[file("arch", "d-arm64")]],
        format: "docker",
        platform: { os: "linux", architecture: "arm64" },
      });
      const docker = await pushIndex(registry, "test/multi:docker", [dArm, dAmd], "docker");
      assertEquals(await fx.images.pull(docker.ref), dAmd.config.digest);

      const only = await pushIndex(registry, "test/multi:noamd", [arm, dArm]);
      const e = await failure(fx.images.pull(only.ref));
      assertEquals(errorKind(e), "not_found");
      assert(/linux\/amd64.*available: linux\/arm64\/v8, linux\/arm64/.test(e.message), e.message);
    } finally {
      await fx.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "images: removal refused while in use, pinned images, GC at start-up",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create();
    try {
      const img = await buildImage({ layers: [[file("a", "a")], [file("b", "b")]] });
      const p = await pushImage(registry, "test/inuse:1", img);
      const id = await fx.images.pull(p.ref);
      const users = new Set<string>(["ctr-1"]);
      fx.inUse = (imageId) => imageId === id ? [...users] : [];
      const e = await failure(Promise.resolve().then(() => fx.images.remove(id)));
      assertEquals(errorKind(e), "failed_precondition");
      assert(/in use by container\(s\) ctr-1/.test(e.message), e.message);
      assert(fx.images.findImage(p.ref));
      assertEquals(fx.images.findImage(p.ref)!.layerDirs.length, 2);

      fx.config.image.pinned = [p.ref];
      assert(fx.images.isPinned(fx.images.resolve(id)!));

      // Garbage from a killed Skiff (a stray layer dir, a stray blob) goes at start-up.
      const strayLayer = `${fx.images.layers.layersDir}/${"e".repeat(64)}`;
      Deno.mkdirSync(`${strayLayer}/x`, { recursive: true });
      Deno.writeFileSync(`${fx.images.content.blobsDir}/${"f".repeat(64)}`, new Uint8Array(3));
      Deno.writeFileSync(`${fx.images.content.ingestDir}/partial`, new Uint8Array(3));
      fx.reopen();
      assertEquals(fx.leftovers(), 0);
      assert(!Deno.statSync(fx.images.layers.layersDir).isFile);
      assertEquals(fx.layerDirCount(), 2);
      assertEquals(fx.images.content.list().length, 4); // manifest, config, 2 layers
      assertEquals(fx.images.resolve(p.ref)?.id, id);

      users.clear();
      fx.images.remove(p.ref);
      assertEquals(fx.layerDirCount(), 0);
      assertEquals(fx.images.content.list(), []);
    } finally {
      await fx.dispose();
      await registry.stop();
    }
  },
});
