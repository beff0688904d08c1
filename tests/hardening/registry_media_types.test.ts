/**
 * Media types (issue 13, item 7): a manifest, config or layer of a type Skiff does not know
 * is refused, not taken for OCI tar+gzip. Non-distributable layers with a known base type
 * are fetched from the registry like any layer (containerd would also try the descriptor's
 * URLs; Skiff never does, so a registry without the blob fails the pull saying why).
 */
import assert from "node:assert/strict";
import { buildImage, file } from "../helpers/oci_build.ts";
import { HostileRegistry } from "./hostile_registry.ts";
import { pull, startSkiff, withManifest } from "./hostile_images.ts";
import { expectRefusal } from "./refusal.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "media types: unknown manifest, config and layer types are refused before any layer",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await startSkiff();
    try {
      const base = await buildImage({ layers: [[file("a", "a")]] });
      const layer = base.layers[0].digest;
      const cases = [
        {
          name: "manifest",
          edit: (m: { mediaType?: string }) => m.mediaType = "application/vnd.evil.manifest+json",
          want: /manifest .*application\/vnd\.evil\.manifest\+json/,
        },
        {
          name: "config",
          edit: (m: { config: { mediaType?: string } }) =>
            m.config.mediaType = "application/vnd.cncf.helm.config.v1+json",
          want: /config media type .*helm/,
        },
        {
          name: "layer",
          edit: (m: { layers: { mediaType?: string }[] }) =>
            m.layers[0].mediaType = "application/vnd.evil.layer.v1.tar+xz",
          want: /application\/vnd\.evil\.layer\.v1\.tar\+xz.*cannot unpack/,
        },
        {
          name: "encrypted",
          edit: (m: { layers: { mediaType?: string }[] }) =>
            m.layers[0].mediaType = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
          want: /cannot unpack/,
        },
      ];
      for (const c of cases) {
        const img = await withManifest(base, c.edit as never);
        reg.putImage(`evil/${c.name}`, "1", img);
        const msg = await expectRefusal(
          s,
          pull(s, reg.ref(`evil/${c.name}:1`)),
          "FAILED_PRECONDITION",
          `unknown ${c.name} media type`,
        );
        assert(c.want.test(msg), `${c.name}: ${msg}`);
      }
      assert(!reg.requests.some((r) => r.endsWith(layer)), "no layer was fetched");
      const list = await s.client.call("ListImages", {});
      assert.equal(list.images?.length ?? 0, 0);
    } finally {
      await s.dispose();
      await reg.close();
    }
  },
});

Deno.test({
  name: "media types: non-distributable layers come from the registry, never from their URLs",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const elsewhere = HostileRegistry.start();
    const s = await startSkiff();
    try {
      const base = await buildImage({ layers: [[file("a", "foreign")]] });
      const layer = base.layers[0].digest;
      const foreign = await withManifest(base, (m) => {
        m.layers[0].mediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
        m.layers[0].urls = [`http://${elsewhere.host}/v2/x/blobs/${layer}`];
      });
      // The registry has the blob: the pull works as for any layer.
      reg.putImage("ok/foreign", "1", foreign);
      const res = await pull(s, reg.ref("ok/foreign:1")) as { image_ref: string };
      assert.equal(res.image_ref, base.config.digest);

      // Docker's foreign type, and the registry lacks the blob: NOT_FOUND, saying why.
      const docker = await withManifest(base, (m) => {
        m.layers[0].mediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
        m.layers[0].digest = `sha256:${"f".repeat(64)}`;
        m.layers[0].urls = [`http://${elsewhere.host}/v2/x/blobs/${layer}`];
      });
      reg.putImage("evil/foreign", "1", { ...docker, layers: [] });
      const msg = await expectRefusal(
        s,
        pull(s, reg.ref("evil/foreign:1")),
        "NOT_FOUND",
        "non-distributable layer missing from the registry",
      );
      assert(/non-distributable/.test(msg), msg);
      assert.equal(elsewhere.requests.length, 0, "the descriptor's URLs are never fetched");
    } finally {
      await s.dispose();
      await reg.close();
      await elsewhere.close();
    }
  },
});
