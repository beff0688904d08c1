/**
 * ImageService over CRI against a real Skiff and a real registry: pull, list (filter),
 * status (tag, digest, ID, prefix, verbose, absent), ImageFsInfo, StreamImages, remove
 * (tag vs ID, idempotent) with GC, tag re-pointing, error codes (INVALID_ARGUMENT,
 * NOT_FOUND, UNAUTHENTICATED), credentials (AuthConfig and config), mirrors with and
 * without fall-back, restart persistence and recovery after SIGKILL mid-pull.
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { buildImage, file, pushBusyboxImage, pushImage } from "../helpers/oci_build.ts";
import { CriCallError } from "../../cri/client.ts";
import { freePort, missingPrerequisites } from "../helpers/env.ts";
import { StallingProxy } from "./proxy.ts";
import { waitFor } from "./fixture.ts";

const skip = registryPrerequisitesMissing({ auth: { username: "u", password: "p" } });
const opts = { ignore: skip !== null, sanitizeResources: false, sanitizeOps: false };

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CriCallError) return { code: e.codeName, message: e.message };
    throw e;
  }
  throw new Error("expected the call to fail");
}

function layerDirs(s: TestSkiff): string[] {
  try {
    return [...Deno.readDirSync(`${s.rootDir}/image/layers/sha256`)].map((e) => e.name);
  } catch {
    return [];
  }
}

function blobs(s: TestSkiff): string[] {
  try {
    return [...Deno.readDirSync(`${s.rootDir}/image/content/blobs/sha256`)].map((e) => e.name);
  } catch {
    return [];
  }
}

Deno.test({
  name: "cri images: pull, list, status, fs info, stream, remove by tag and ID, GC, tag moves",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      await s.start();
      const c = s.client;
      const img = await pushBusyboxImage(registry, "test/busybox:1", { config: { User: "1000" } });
      await pushImage(registry, "test/busybox:2", img.built[0]);
      const pulled = await c.call("PullImage", { image: { image: img.ref } });
      assertEquals(pulled.image_ref, img.imageId);
      await c.call("PullImage", { image: { image: `${img.repository}:2` } });

      const list = await c.call("ListImages", {});
      assertEquals(list.images.length, 1);
      const image = list.images[0];
      assertEquals(image.id, img.imageId);
      assertEquals(image.repo_tags.sort(), [img.ref, `${img.repository}:2`]);
      assertEquals(image.repo_digests, [`${img.repository}@${img.manifestDigest}`]);
      assertEquals(image.uid?.value, "1000");
      assert(Number(image.size) > 500_000, `size ${image.size}`);
      assertEquals(image.pinned, false);

      // Status by every kind of name; absent → empty response.
      for (
        const name of [
          img.ref,
          img.imageId,
          img.imageId.slice(7),
          img.imageId.slice(7, 19),
          `${img.repository}@${img.manifestDigest}`,
        ]
      ) {
        const st = await c.call("ImageStatus", { image: { image: name } });
        assertEquals(st.image?.id, img.imageId, name);
      }
      const absent = await c.call("ImageStatus", { image: { image: `${registry.host}/nope:1` } });
      assertEquals(absent.image ?? null, null);
      const verbose = await c.call("ImageStatus", { image: { image: img.ref }, verbose: true });
      const info = JSON.parse(verbose.info.info);
      assertEquals(info.chainIds.length, 1);
      assertEquals(info.config.config.User, "1000");
      assertEquals(info.manifest.layers.length, 1);

      const filtered = await c.call("ListImages", { filter: { image: { image: img.ref } } });
      assertEquals(filtered.images.map((i) => i.id), [img.imageId]);
      const none = await c.call("ListImages", { filter: { image: { image: "nothing:here" } } });
      assertEquals(none.images, []);
      const streamed = [];
      for await (const m of c.stream("StreamImages", {})) streamed.push(...m.images);
      assertEquals(streamed.map((i) => i.id), [img.imageId]);

      const fs = await c.call("ImageFsInfo", {});
      assertEquals(fs.image_filesystems[0].fs_id?.mountpoint, `${s.rootDir}/image`);
      assert(Number(fs.image_filesystems[0].used_bytes?.value) > 1_000_000);
      assert(Number(fs.image_filesystems[0].inodes_used?.value) > 100);
      // container_filesystems filled too (kubelet's eviction manager reads it); the writable
      // layers share the image disk here, so both name the same mount point (not split).
      assertEquals(fs.container_filesystems.length, 1);
      assertEquals(fs.container_filesystems[0].fs_id?.mountpoint, `${s.rootDir}/image`);

      // A tag that moves to a new image is re-pointed.
      const other = await buildImage({ layers: [[file("x", "other")]] });
      await pushImage(registry, "test/busybox:2", other);
      await c.call("PullImage", { image: { image: `${img.repository}:2` } });
      const moved = await c.call("ListImages", {});
      assertEquals(moved.images.length, 2);
      const byId = new Map(moved.images.map((i) => [i.id, i]));
      assertEquals(byId.get(img.imageId)!.repo_tags, [img.ref]);
      assertEquals(byId.get(other.config.digest)!.repo_tags, [`${img.repository}:2`]);

      // Remove by tag removes that name (the image goes with its last tag), then GC.
      await c.call("RemoveImage", { image: { image: `${img.repository}:2` } });
      assertEquals((await c.call("ListImages", {})).images.map((i) => i.id), [img.imageId]);
      assertEquals(layerDirs(s).length, 1);
      // Remove by ID, twice (idempotent); layers and blobs are collected.
      await c.call("RemoveImage", { image: { image: img.imageId } });
      await c.call("RemoveImage", { image: { image: img.imageId } });
      assertEquals((await c.call("ListImages", {})).images, []);
      assertEquals(layerDirs(s), []);
      assertEquals(blobs(s), []);
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "cri images: bad reference, missing tag, auth failures and credentials",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start({ auth: { username: "u", password: "p" } });
    const s = await TestSkiff.create({
      extraToml:
        `[image.registries."localhost:${registry.port}"]\nusername = "u"\npassword = "p"\n`,
    });
    try {
      await s.start();
      const c = s.client;
      const img = await pushBusyboxImage(registry, "test/locked:1");
      const bad = await codeOf(c.call("PullImage", { image: { image: "Bad/Name" } }));
      assertEquals(bad.code, "INVALID_ARGUMENT");
      assert(/lowercase/.test(bad.message), bad.message);

      const none = await codeOf(c.call("PullImage", { image: { image: img.ref } }));
      assertEquals(none.code, "UNAUTHENTICATED");
      assert(/requires credentials|no credentials/.test(none.message), none.message);
      const wrong = await codeOf(
        c.call("PullImage", { image: { image: img.ref }, auth: { username: "u", password: "x" } }),
      );
      assertEquals(wrong.code, "UNAUTHENTICATED");
      assert(/rejected the credentials/.test(wrong.message), wrong.message);

      const missing = await codeOf(
        c.call("PullImage", {
          image: { image: `${img.repository}:nope` },
          auth: { username: "u", password: "p" },
        }),
      );
      assertEquals(missing.code, "NOT_FOUND");
      assert(/not found/.test(missing.message), missing.message);

      const ok = await c.call("PullImage", {
        image: { image: img.ref },
        auth: { username: "u", password: "p" },
      });
      assertEquals(ok.image_ref, img.imageId);
      const viaAuth = await c.call("PullImage", {
        image: { image: img.ref },
        auth: { auth: btoa("u:p") },
      });
      assertEquals(viaAuth.image_ref, img.imageId);
      // Credentials from the config file (the same registry reached as localhost:<port>).
      const viaConfig = await c.call("PullImage", {
        image: { image: `localhost:${registry.port}/test/locked:1` },
      });
      assertEquals(viaConfig.image_ref, img.imageId);
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "cri images: mirrors in order with fall-back; skip_upstream means mirrors only",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const dead = `http://127.0.0.1:${freePort()}`;
    const s = await TestSkiff.create({
      extraToml: [
        // A made-up upstream served by a dead mirror, then the real registry as a mirror.
        `[image.registries."mirror-test.invalid"]`,
        `mirrors = ["${dead}", "${registry.url}"]`,
        `skip_upstream = true`,
        // The real registry as upstream behind a dead mirror: falls back to it.
        `[image.registries."${registry.host}"]`,
        `mirrors = ["${dead}"]`,
        // Air-gapped: only a dead mirror, no upstream.
        `[image.registries."airgap.invalid"]`,
        `mirrors = ["${dead}"]`,
        `skip_upstream = true`,
      ].join("\n"),
    });
    try {
      await s.start();
      const c = s.client;
      const img = await pushBusyboxImage(registry, "test/mirrored:1");
      const viaMirror = await c.call("PullImage", {
        image: { image: "mirror-test.invalid/test/mirrored:1" },
      });
      assertEquals(viaMirror.image_ref, img.imageId);
      const st = await c.call("ImageStatus", {
        image: { image: "mirror-test.invalid/test/mirrored:1" },
      });
      assertEquals(st.image?.repo_tags, ["mirror-test.invalid/test/mirrored:1"]);
      const fallback = await c.call("PullImage", { image: { image: img.ref } });
      assertEquals(fallback.image_ref, img.imageId);
      const airgap = await codeOf(
        c.call("PullImage", { image: { image: "airgap.invalid/test/mirrored:1" } }),
      );
      assertEquals(airgap.code, "UNAVAILABLE");
      assert(airgap.message.includes(dead), airgap.message);
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "cri images: SIGKILL mid-pull, restart cleans leftovers, images persist, pull again works",
  ...opts,
  async fn() {
    const registry = await TestRegistry.start();
    const proxy = new StallingProxy(registry.url);
    const s = await TestSkiff.create({
      extraToml: `[image.registries."${registry.host}"]\nmirrors = ["${proxy.url}"]\n`,
    });
    try {
      await s.start();
      const c = s.client;
      const kept = await pushBusyboxImage(registry, "test/kept:1");
      proxy.stall = false;
      await c.call("PullImage", { image: { image: kept.ref } });
      const big = await pushBusyboxImage(registry, "test/big:1", {
        extraLayers: [{
          entries: [file("big", crypto.getRandomValues(new Uint8Array(60_000)))],
          compression: "none",
        }],
      });
      proxy.stall = true;
      const pulling = c.call("PullImage", { image: { image: big.ref } }).catch(() => {});
      const ingest = `${s.rootDir}/image/content/ingest`;
      await waitFor(() => [...Deno.readDirSync(ingest)].length > 0, 10_000, "download to start");
      await s.kill();
      await pulling;
      assert([...Deno.readDirSync(ingest)].length > 0, "the kill left a partial download");
      proxy.stall = false;
      await s.start();
      assertEquals([...Deno.readDirSync(ingest)], []);
      assertEquals([...Deno.readDirSync(`${s.rootDir}/image/layers/tmp`)], []);
      // The client of the killed process is closed: use the new one.
      const c2 = s.client;
      assertEquals((await c2.call("ListImages", {})).images.map((i) => i.id), [kept.imageId]);
      const again = await c2.call("PullImage", { image: { image: big.ref } });
      assertEquals(again.image_ref, big.imageId);
    } finally {
      await s.dispose();
      await proxy.close();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "cri images: RemoveImage is FAILED_PRECONDITION while a real container uses the image",
  ignore: skip !== null ||
    missingPrerequisites({ root: true, binaries: ["runc", "conmon"] }) !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    let podId = "";
    try {
      await s.start();
      const c = s.client;
      const img = await pushBusyboxImage(registry, "test/used:1");
      await c.call("PullImage", { image: { image: img.ref } });
      const config = {
        metadata: { name: "imgpod", namespace: "imagetest", uid: crypto.randomUUID(), attempt: 0 },
        hostname: "imgpod",
        log_directory: `${s.dir}/pod-logs`,
        linux: {
          security_context: {
            namespace_options: {
              network: "NODE" as const,
              pid: "CONTAINER" as const,
              ipc: "POD" as const,
            },
          },
        },
      };
      podId = (await c.call("RunPodSandbox", { config })).pod_sandbox_id;
      const { container_id } = await c.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: {
          metadata: { name: "user", attempt: 0 },
          image: { image: img.ref },
          command: ["sleep", "60"],
          log_path: "user/0.log",
        },
        sandbox_config: config,
      });
      const refused = await codeOf(c.call("RemoveImage", { image: { image: img.imageId } }));
      assertEquals(refused.code, "FAILED_PRECONDITION");
      assert(refused.message.includes(container_id), refused.message);
      assertEquals((await c.call("ListImages", {})).images.length, 1);
      await c.call("RemoveContainer", { container_id });
      await c.call("RemoveImage", { image: { image: img.imageId } });
      assertEquals((await c.call("ListImages", {})).images, []);
      assertEquals(layerDirs(s), []);
    } finally {
      if (podId) {
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId }).catch(() => {});
      }
      await s.dispose();
      await registry.stop();
    }
  },
});
