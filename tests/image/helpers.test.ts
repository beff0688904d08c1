/**
 * The shared test helpers themselves: a real docker-registry (with and without Basic auth)
 * and images built in TS, checked with independent tools (skopeo, GNU tar).
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import {
  buildImage,
  dir,
  file,
  hardlink,
  pushBusyboxImage,
  pushIndex,
  symlink,
  tarArchive,
  whiteout,
} from "../helpers/oci_build.ts";
import { makeTempDir, missingPrerequisites } from "../helpers/env.ts";
import { ImageFixture } from "./fixture.ts";

const skip = registryPrerequisitesMissing({ auth: { username: "u", password: "p" } }) ??
  missingPrerequisites({ binaries: ["skopeo", "tar"] });

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

Deno.test({
  name: "helpers: tar writer output is read by GNU tar with modes, links and long names",
  ignore: missingPrerequisites({ binaries: ["tar"] }) !== null,
  async fn() {
    const tmp = await makeTempDir("tarw");
    try {
      const long = "d/" + "x".repeat(150) + "/" + "y".repeat(120);
      const tar = tarArchive([
        dir("d"),
        file("d/a", "hello", { mode: 0o4755, uid: 1000, gid: 1000 }),
        symlink("d/l", "/etc/abs"),
        hardlink("d/h", "d/a"),
        dir("d/" + "x".repeat(150)),
        file(long, "long"),
        whiteout("d/gone"),
      ]);
      await Deno.writeFile(`${tmp}/t.tar`, tar);
      const listing = await run("tar", ["tvf", `${tmp}/t.tar`]);
      assert(listing.includes("-rwsr-xr-x 1000/1000"), listing);
      assert(listing.includes("d/l -> /etc/abs"), listing);
      assert(listing.includes("d/h link to d/a"), listing);
      assert(listing.includes("y".repeat(120)), listing);
      assert(listing.includes("d/.wh.gone"), listing);
      await Deno.mkdir(`${tmp}/x`);
      await run("tar", ["xf", `${tmp}/t.tar`, "-C", `${tmp}/x`]);
      assertEquals(await Deno.readTextFile(`${tmp}/x/${long}`), "long");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "helpers: busybox image pushed to a Basic-auth registry is readable by skopeo",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const registry = await TestRegistry.start({ auth: { username: "u", password: "p" } });
    const tmp = await makeTempDir("helpers");
    try {
      const img = await pushBusyboxImage(registry, "test/busybox:1", {
        config: { User: "1000" },
      });
      const unauth = await fetch(`${registry.url}/v2/test/busybox/manifests/1`);
      await unauth.body?.cancel();
      assertEquals(unauth.status, 401);
      const inspect = JSON.parse(
        await run("skopeo", [
          "inspect",
          "--tls-verify=false",
          "--creds",
          "u:p",
          `docker://${img.ref}`,
        ]),
      );
      assertEquals(inspect.Digest, img.manifestDigest);
      assertEquals(inspect.Layers.length, 1);
      await run("skopeo", [
        "copy",
        "--src-tls-verify=false",
        "--src-creds",
        "u:p",
        `docker://${img.ref}`,
        `oci:${tmp}/oci:x`,
      ]);
      const layerDigest = img.built[0].layers[0].digest.slice(7);
      const listing = await run("tar", ["tzvf", `${tmp}/oci/blobs/sha256/${layerDigest}`]);
      assert(listing.includes("bin/sh -> busybox"), listing);
      assert(listing.includes("etc/passwd"), listing);
    } finally {
      await registry.stop();
      await Deno.remove(tmp, { recursive: true });
    }
    assert(!(await exists(registry.dir)), "registry dir removed");
  },
});

Deno.test({
  name: "helpers: two-platform OCI index with zstd layers",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const registry = await TestRegistry.start();
    try {
      const amd = await buildImage({
        layers: [{ entries: [file("a", "amd64")], compression: "zstd" }],
      });
      const arm = await buildImage({
        layers: [{ entries: [file("a", "arm64")], compression: "none" }],
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      });
      const pushed = await pushIndex(registry, "test/multi:v1", [amd, arm]);
      const raw = await run("skopeo", [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${pushed.ref}`,
      ]);
      const index = JSON.parse(raw);
      assertEquals(index.manifests.length, 2);
      assertEquals(index.manifests[1].platform.architecture, "arm64");
    } finally {
      await registry.stop();
    }
  },
});

async function exists(p: string): Promise<boolean> {
  try {
    await Deno.lstat(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test({
  name: "helpers: the busybox image is runnable (sh, id, users) once pulled and unpacked",
  ignore: (registryPrerequisitesMissing() ??
    missingPrerequisites({ root: true, binaries: ["chroot"] })) !==
    null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create();
    try {
      const img = await pushBusyboxImage(registry, "test/busybox:run");
      await fx.images.pull(img.ref);
      const [root] = fx.images.findImage(img.ref)!.layerDirs;
      const out = await run("chroot", [
        "--userspec=1000:1000",
        root,
        "/bin/sh",
        "-c",
        "echo hello; id; cat /etc/hostname; ls /bin/nc /bin/sleep /bin/wget",
      ]);
      assertEquals(
        out,
        "hello\nuid=1000(app) gid=1000(app) groups=1000(app)\nbusybox\n/bin/nc\n/bin/sleep\n/bin/wget\n",
      );
    } finally {
      await fx.dispose();
      await registry.stop();
    }
  },
});
