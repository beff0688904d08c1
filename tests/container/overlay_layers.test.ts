/**
 * The overlay builder (linux/overlay.ts) on real layer dirs and the real kernel: 120 layers
 * (three times what one mount(2) page holds) merge in the right order with shadowing and a
 * whiteout, through runtime/rootfs.ts as containers use it, in the host's user namespace
 * and over idmapped clones; 501 layers and a page overflow without lowerdir+ are refused
 * FAILED_PRECONDITION; 50 mounts (and failed ones) leave no descriptor behind.
 */
import assert from "node:assert/strict";
import { FailedPreconditionError } from "../../core/errors.ts";
import {
  legacyOverlayOptions,
  MOUNT_OPTIONS_MAX,
  mountOverlaySync,
  overlayLowerdirPlus,
  setOverlayLowerdirPlusForTest,
} from "../../linux/overlay.ts";
import { isMountedSync, MNT_DETACH, umountSync } from "../../linux/mounts.ts";
import { mountRootfs, unmountRootfs } from "../../runtime/rootfs.ts";
import { makeTempDir, missingPrerequisites } from "../helpers/env.ts";
import { removeTree } from "../helpers/skiff.ts";

const missing = missingPrerequisites({ root: true, binaries: ["unshare"] });
const noLowerdirPlus = missing ? null : !overlayLowerdirPlus();
if (missing) console.warn(`SKIPPING overlay builder tests: ${missing}`);
else if (noLowerdirPlus) {
  console.warn("SKIPPING the >38-layer overlay tests: this kernel's overlayfs lacks lowerdir+");
}
const opts = { sanitizeResources: false, sanitizeOps: false };

/** `n` layer dirs, lowest first: each has `own-i` and `shared` (the top one wins), layer 0
 * has `base-only` and `gone`, layer n/2 whites `gone` out with a 0/0 character device. */
async function makeLayers(root: string, n: number): Promise<string[]> {
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    // Long names, as real layer paths are (…/image/layers/sha256/<64 hex>).
    const dir = `${root}/layers/sha256/${String(i).padStart(64, "0")}`;
    await Deno.mkdir(`${dir}/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/own-${i}`, `${i}`);
    await Deno.writeTextFile(`${dir}/shared`, `${i}`);
    await Deno.writeTextFile(`${dir}/sub/shared`, `${i}`);
    if (i === 0) {
      await Deno.writeTextFile(`${dir}/base-only`, "base");
      await Deno.writeTextFile(`${dir}/gone`, "must be hidden");
    }
    if (i === Math.floor(n / 2)) {
      const r = await new Deno.Command("mknod", { args: [`${dir}/gone`, "c", "0", "0"] }).output();
      assert(r.success, new TextDecoder().decode(r.stderr));
    }
    dirs.push(dir);
  }
  return dirs;
}

function fdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

async function checkMerged(target: string, n: number): Promise<void> {
  assert(isMountedSync(target), "the overlay is mounted");
  assert.equal(await Deno.readTextFile(`${target}/shared`), `${n - 1}`, "the topmost layer wins");
  assert.equal(await Deno.readTextFile(`${target}/sub/shared`), `${n - 1}`, "in dirs too");
  assert.equal(await Deno.readTextFile(`${target}/base-only`), "base", "the lowest shows");
  for (const i of [0, 1, 37, 38, 39, n - 1]) {
    assert.equal(await Deno.readTextFile(`${target}/own-${i}`), `${i}`);
  }
  await assert.rejects(Deno.stat(`${target}/gone`), Deno.errors.NotFound, "whited out");
}

Deno.test({
  name: "overlay: 120 real layers merge topmost-wins with a whiteout, writes land in upper",
  ignore: !!missing || !!noLowerdirPlus,
  ...opts,
  async fn() {
    const root = await makeTempDir("overlay120");
    try {
      const layers = await makeLayers(root, 120);
      const lowerTopFirst = [...layers].reverse();
      assert(
        legacyOverlayOptions({ lowerTopFirst }).length > MOUNT_OPTIONS_MAX,
        "more than one mount(2) page of options",
      );
      const target = `${root}/rootfs`;
      await mountRootfs(layers, `${root}/upper`, `${root}/work`, target);
      await checkMerged(target, 120);
      await Deno.writeTextFile(`${target}/written`, "w");
      assert.equal(await Deno.readTextFile(`${root}/upper/written`), "w");
      for (const l of [layers[0], layers[119]]) {
        await assert.rejects(Deno.stat(`${l}/written`), Deno.errors.NotFound);
      }
      await unmountRootfs(target);
      assert(!isMountedSync(target));
    } finally {
      await removeTree(root);
    }
  },
});

Deno.test({
  name: "overlay: lowerdir+ order is topmost first, as lowerdir= (3 layers shadowing)",
  ignore: !!missing || !!noLowerdirPlus,
  ...opts,
  async fn() {
    const root = await makeTempDir("overlayorder");
    try {
      for (const l of ["top", "mid", "low"]) {
        await Deno.mkdir(`${root}/${l}`, { recursive: true });
        await Deno.writeTextFile(`${root}/${l}/x`, l);
      }
      await Deno.writeTextFile(`${root}/low/y`, "low");
      await Deno.writeTextFile(`${root}/mid/y`, "mid");
      await Deno.mkdir(`${root}/ro`);
      const lowerTopFirst = ["top", "mid", "low"].map((l) => `${root}/${l}`);
      mountOverlaySync(`${root}/ro`, { lowerTopFirst, readOnly: true });
      try {
        assert.equal(await Deno.readTextFile(`${root}/ro/x`), "top");
        assert.equal(await Deno.readTextFile(`${root}/ro/y`), "mid");
        await assert.rejects(Deno.writeTextFile(`${root}/ro/z`, "z"), "a read-only overlay");
      } finally {
        umountSync(`${root}/ro`, MNT_DETACH);
      }
    } finally {
      await removeTree(root);
    }
  },
});

Deno.test({
  name: "overlay: 50 mounts of 60 layers and failed mounts leave no descriptor open",
  ignore: !!missing || !!noLowerdirPlus,
  ...opts,
  async fn() {
    const root = await makeTempDir("overlayfds");
    try {
      const lowerTopFirst = (await makeLayers(root, 60)).reverse();
      const target = `${root}/rootfs`;
      await Deno.mkdir(target);
      await Deno.mkdir(`${root}/upper`);
      await Deno.mkdir(`${root}/work`);
      // One warm-up mount first: libc's dlopen and the probe keep their descriptors.
      mountOverlaySync(target, { lowerTopFirst, upper: `${root}/upper`, work: `${root}/work` });
      assert.equal(umountSync(target).errno, 0);
      const before = fdCount();
      for (let i = 0; i < 50; i++) {
        mountOverlaySync(target, { lowerTopFirst, upper: `${root}/upper`, work: `${root}/work` });
        assert.equal(await Deno.readTextFile(`${target}/shared`), "59");
        assert.equal(umountSync(target).errno, 0);
      }
      // Failures at each step: a missing lower, a missing work dir, a missing target.
      const bad = [
        { target, layers: { lowerTopFirst: [...lowerTopFirst, `${root}/nope`] } },
        { target, layers: { lowerTopFirst, upper: `${root}/upper`, work: `${root}/nope` } },
        { target: `${root}/nope`, layers: { lowerTopFirst } },
      ];
      for (const b of bad) {
        for (let i = 0; i < 10; i++) assert.throws(() => mountOverlaySync(b.target, b.layers));
      }
      assert(!isMountedSync(target));
      assert.equal(fdCount(), before, "descriptors before and after");
    } finally {
      await removeTree(root);
    }
  },
});

Deno.test({
  name: "overlay: over 500 layers, or a full page without lowerdir+, is FAILED_PRECONDITION",
  ignore: !!missing,
  ...opts,
  async fn() {
    const root = await makeTempDir("overlaycap");
    try {
      await Deno.mkdir(`${root}/t`);
      const many = Array.from({ length: 501 }, () => root);
      assert.throws(() => mountOverlaySync(`${root}/t`, { lowerTopFirst: many }), (e) => {
        assert(e instanceof FailedPreconditionError && /at most 500/.test(e.message), String(e));
        return true;
      });
      const layers = (await makeLayers(root, 60)).reverse();
      setOverlayLowerdirPlusForTest(false);
      try {
        assert.throws(() => mountOverlaySync(`${root}/t`, { lowerTopFirst: layers }), (e) => {
          assert(e instanceof FailedPreconditionError, String(e));
          assert(/option page/.test(e.message) && /lowerdir\+/.test(e.message), e.message);
          return true;
        });
        // What fits in a page still mounts through legacy mount(2).
        mountOverlaySync(`${root}/t`, { lowerTopFirst: layers.slice(0, 5), readOnly: true });
        assert.equal(await Deno.readTextFile(`${root}/t/shared`), "59");
        assert.equal(umountSync(`${root}/t`).errno, 0);
      } finally {
        setOverlayLowerdirPlusForTest(null);
      }
    } finally {
      await removeTree(root);
    }
  },
});

/** A user namespace mapping 0 → 1000 (100000 IDs), pinned by a sleeping process. */
async function userns(): Promise<{ path: string; kill: () => Promise<void> }> {
  const child = new Deno.Command("unshare", { args: ["-U", "sleep", "60"] }).spawn();
  const path = `/proc/${child.pid}/ns/user`;
  const self = Deno.readLinkSync("/proc/self/ns/user");
  for (let i = 0; i < 100 && Deno.readLinkSync(path) === self; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await Deno.writeTextFile(`/proc/${child.pid}/uid_map`, "0 1000 100000\n");
  await Deno.writeTextFile(`/proc/${child.pid}/gid_map`, "0 1000 100000\n");
  return {
    path,
    kill: async () => {
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

Deno.test({
  name: "overlay: 60 idmapped layer clones mount through the builder; clones detached after",
  ignore: !!missing || !!noLowerdirPlus,
  ...opts,
  async fn() {
    const root = await makeTempDir("overlayidmap");
    const ns = await userns();
    try {
      const layers = await makeLayers(root, 60);
      const target = `${root}/rootfs`;
      const idmap = { usernsPath: ns.path, rootUid: 1000, rootGid: 1000, scratchDir: `${root}/s` };
      await mountRootfs(layers, `${root}/upper`, `${root}/work`, target, idmap);
      await checkMerged(target, 60);
      // Files owned by 0 on disk show as the pod's root (host 1000) through the clones.
      assert.equal((await Deno.stat(`${target}/own-0`)).uid, 1000);
      assert.equal((await Deno.stat(`${root}/upper`)).uid, 1000);
      const mountPoints = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
        .map((l) => l.split(" ")[4] ?? "");
      assert(!mountPoints.some((m) => m.startsWith(`${root}/s`)), "the clones are detached");
      assert(mountPoints.includes(target));
      await unmountRootfs(target);
    } finally {
      await ns.kill();
      await removeTree(root);
    }
  },
});
