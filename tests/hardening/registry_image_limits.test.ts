/**
 * Size and count limits on what a registry sends (issue 13, items 5, 6 and the PAX part
 * of 9): image configs capped (image.max_config_bytes) and exactly their descriptor's size,
 * read no further than that; the layer count capped by what overlay can mount (and
 * image.max_layers), refused before any layer is fetched; tar entry paths Linux cannot
 * hold refused INVALID_ARGUMENT naming the layer and the entry, never a host path.
 */
import assert from "node:assert/strict";
import { buildImage, file, sha256 } from "../helpers/oci_build.ts";
import { mountableLayers } from "../../image/pull/limits.ts";
import { HostileRegistry } from "./hostile_registry.ts";
import { manyLayers, pull, startSkiff, withManifest } from "./hostile_images.ts";
import { expectRefusal } from "./refusal.ts";
import { waitFor } from "../image/fixture.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };

function blobGets(reg: HostileRegistry, digest: string): number {
  return reg.requests.filter((r) => r.startsWith("GET ") && r.endsWith(digest)).length;
}

Deno.test({
  name: "image limits: configs are capped, must match their descriptor, and are read no further",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await startSkiff();
    try {
      const base = await buildImage({ layers: [[file("a", "a")]] });
      const cfg = base.config.digest;

      // Declared over the cap: refused before the config is fetched.
      const big = await withManifest(base, (m) => m.config.size = 100 * 1024 * 1024);
      reg.putImage("evil/bigconfig", "1", big);
      reg.blobs.set(cfg, { bytes: base.config.bytes, endless: true });
      let msg = await expectRefusal(
        s,
        pull(s, reg.ref("evil/bigconfig:1")),
        "FAILED_PRECONDITION",
        "config over the cap",
      );
      assert(/max_config_bytes/.test(msg), msg);
      assert.equal(blobGets(reg, cfg), 0, "the config must not be fetched");

      // Declared small, but the blob never ends: reading stops past the declared size.
      const endless = await withManifest(base, (m) => m.config.size = 1000);
      reg.putImage("evil/endless", "1", endless);
      reg.blobs.set(cfg, { bytes: base.config.bytes, endless: true });
      msg = await expectRefusal(
        s,
        pull(s, reg.ref("evil/endless:1")),
        "FAILED_PRECONDITION",
        "endless config",
      );
      assert(msg.includes(cfg) && /larger than the 1000 bytes/.test(msg), msg);
      await waitFor(() => reg.openStreams === 0, 5000, "the endless download to be closed");

      // The right content, but a descriptor size that differs from it.
      const off = await withManifest(base, (m) => m.config.size = base.config.bytes.length + 7);
      reg.putImage("evil/offsize", "1", off);
      reg.blobs.set(cfg, { bytes: base.config.bytes });
      msg = await expectRefusal(
        s,
        pull(s, reg.ref("evil/offsize:1")),
        "FAILED_PRECONDITION",
        "config size differs from its descriptor",
      );
      assert(/descriptor says/.test(msg), msg);

      // The same image, honestly described, pulls.
      reg.putImage("ok/config", "1", base);
      await pull(s, reg.ref("ok/config:1"));
    } finally {
      await s.dispose();
      await reg.close();
    }
  },
});

Deno.test({
  name: "image limits: more layers than overlay can mount (or max_layers) fail before any fetch",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await startSkiff();
    try {
      // What one overlay mount holds with this test's root_dir: overlayfs's 500 where the
      // kernel takes lowerdir+ (Linux ≥ 6.8), else one mount(2) page (38 with /var/lib/skiff).
      const cap = mountableLayers(s.rootDir);
      assert(cap === 500 || (cap > 5 && cap < 500), String(cap));
      const tooMany = await manyLayers(cap + 1);
      reg.putImage("evil/layers", "1", tooMany);
      const msg = await expectRefusal(
        s,
        pull(s, reg.ref("evil/layers:1")),
        "FAILED_PRECONDITION",
        "too many layers",
      );
      assert(msg.includes(`${cap + 1} layers`) && msg.includes(`at most ${cap}`), msg);
      assert(/overlay/.test(msg), msg);
      assert(!reg.requests.some((r) => r.includes("/blobs/")), reg.requests.join("\n"));

      // Exactly the cap pulls (tests/container/overlay_layers.test.ts mounts past one page).
      const fits = await manyLayers(cap);
      reg.putImage("ok/layers", "1", fits);
      await pull(s, reg.ref("ok/layers:1"));
    } finally {
      await s.dispose();
      await reg.close();
    }
    // image.max_layers lowers the cap further.
    const reg2 = HostileRegistry.start();
    const s2 = await startSkiff("[image]\nmax_layers = 3\n");
    try {
      reg2.putImage("evil/four", "1", await manyLayers(4));
      const msg = await expectRefusal(
        s2,
        pull(s2, reg2.ref("evil/four:1")),
        "FAILED_PRECONDITION",
        "over max_layers",
      );
      assert(/4 layers.*at most 3.*image\.max_layers/.test(msg), msg);
    } finally {
      await s2.dispose();
      await reg2.close();
    }
  },
});

Deno.test({
  name: "image limits: tar paths Linux cannot hold are INVALID_ARGUMENT naming layer and entry",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await startSkiff();
    try {
      const cases = [
        { name: "component", path: `dir/${"n".repeat(300)}` },
        { name: "pathmax", path: `${"d".repeat(200)}/`.repeat(21) + "f" },
      ];
      for (const c of cases) {
        const img = await buildImage({ layers: [[file("ok", "1"), file(c.path, "x")]] });
        reg.putImage(`evil/${c.name}`, "1", img);
        const msg = await expectRefusal(
          s,
          pull(s, reg.ref(`evil/${c.name}:1`)),
          "INVALID_ARGUMENT",
          `PAX path (${c.name})`,
        );
        assert(msg.includes(img.layers[0].digest), `names the layer: ${msg}`);
        assert(msg.includes(c.path.slice(0, 40)), `names the entry: ${msg}`);
        assert(msg.length < 1000, `the entry is shown truncated: ${msg.length} chars`);
        assert(!/unpack-|\/image\/layers/.test(msg), msg);
      }
      const tmp = [...Deno.readDirSync(`${s.rootDir}/image/layers/tmp`)];
      assert.equal(tmp.length, 0, "failed unpacks leave nothing");
    } finally {
      await s.dispose();
      await reg.close();
    }
  },
});

Deno.test({
  name: "image limits: diff IDs that are not sha256 digests never become paths (nothing removed)",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await startSkiff();
    try {
      // A directory beside Skiff's root, which "../../../../victim" from the layer store
      // names; the oversized layer blob used to make the failed pull remove it.
      const victim = `${s.dir}/victim`;
      await Deno.mkdir(victim);
      await Deno.writeTextFile(`${victim}/keep.txt`, "keep");
      const base = await buildImage({ layers: [[file("a", "a".repeat(4000))]] });
      const config = JSON.parse(new TextDecoder().decode(base.config.bytes));
      config.rootfs.diff_ids = ["../../../../victim"];
      const configBytes = new TextEncoder().encode(JSON.stringify(config));
      const configDigest = await sha256(configBytes);
      const evil = await withManifest(base, (m) => {
        m.config.digest = configDigest;
        m.config.size = configBytes.length;
        m.layers[0].size = base.layers[0].bytes.length - 10;
      });
      reg.putImage("evil/diffid", "1", {
        ...evil,
        config: { ...base.config, digest: configDigest, bytes: configBytes },
      });
      const msg = await expectRefusal(
        s,
        pull(s, reg.ref("evil/diffid:1")),
        "FAILED_PRECONDITION",
        "diff ID that is a path",
      );
      assert(/diff_ids/.test(msg), msg);
      assert.equal(await Deno.readTextFile(`${victim}/keep.txt`), "keep");
    } finally {
      await s.dispose();
      await reg.close();
    }
  },
});
