/**
 * Layer unpack through real pulls from a real registry: fidelity (owners, setuid/sticky,
 * xattrs, devices, FIFOs, hard links, absolute symlinks, mtimes, whiteouts, opaque dirs,
 * gzip/zstd/plain, overlay semantics under a real overlay mount) and confinement (malicious
 * layers are rejected, nothing is written outside the store, nothing is left behind).
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import {
  buildImage,
  device,
  dir,
  fifo,
  file,
  hardlink,
  opaque,
  pushImage,
  symlink,
  type TarEntry,
  whiteout,
} from "../helpers/oci_build.ts";
import { makeTempDir, missingPrerequisites, randomHex } from "../helpers/env.ts";
import { ImageFixture } from "./fixture.ts";
import { lgetxattr } from "../../linux/fs_syscalls.ts";
import { errorKind } from "../../core/errors.ts";

// Root: owners, devices, xattrs and the overlay mount.
const skip = registryPrerequisitesMissing() ?? missingPrerequisites({ root: true });

// security.capability v2 for cap_net_bind_service: binary, with NUL bytes.
const CAP = new Uint8Array([
  0x01,
  0x00,
  0x00,
  0x02,
  0x00,
  0x04,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
  0x00,
]);

Deno.test({
  name: "unpack: every kind of entry is applied faithfully and overlays as OCI says",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create();
    const mnt = await makeTempDir("ovl");
    let mounted = false;
    try {
      const built = await buildImage({
        layers: [
          {
            compression: "gzip",
            entries: [
              dir("etc"),
              file("etc/keep", "k"),
              dir("data", { mtime: 1600000000 }),
              file("data/a", "a", { mtime: 1600000001 }),
              hardlink("data/hl", "data/a"),
              dir("opq"),
              file("opq/old", "old"),
              file("gone", "g"),
              dir("bin"),
              file("bin/tool", "#!/bin/sh\n", { mode: 0o4755 }),
              file("bin/sgid", "x", { mode: 0o2755, gid: 50 }),
              dir("home"),
              dir("home/app", { uid: 1000, gid: 1000, mode: 0o750 }),
              file("home/app/f", "mine", { uid: 1000, gid: 1000, mode: 0o640 }),
              dir("sticky", { mode: 0o1777 }),
              file("cap", "c", {
                mode: 0o755,
                xattrs: { "security.capability": CAP, "user.note": "hi" },
              }),
              symlink("abs", "/etc/keep", { mtime: 1500000000, uid: 1000, gid: 1000 }),
              // user.* xattrs cannot exist on symlinks (EPERM): skipped, as containerd does.
              symlink("rel", "etc/keep", { xattrs: { "user.ignored": "x" } }),
              dir("dev"),
              device("dev/mynull", "char", 1, 3),
              device("dev/blk", "block", 7, 0, { mode: 0o660 }),
              dir("run"),
              fifo("run/fifo", { mode: 0o600 }),
              file("long/" + "n".repeat(120) + "/" + "m".repeat(110), "deep"),
            ],
          },
          {
            compression: "zstd",
            entries: [whiteout("gone"), opaque("opq"), file("opq/new", "new")],
          },
          { compression: "none", entries: [file("data/c", "c")] },
        ],
      });
      const pushed = await pushImage(registry, "test/fidelity:1", built);
      const id = await fx.images.pull(pushed.ref);
      assertEquals(id, built.config.digest);
      const img = fx.images.findImage(pushed.ref)!;
      assertEquals(img.layerDirs.length, 3);
      const [l1, l2, l3] = img.layerDirs;

      const st = (p: string) => Deno.lstatSync(p);
      assertEquals(st(`${l1}/bin/tool`).mode! & 0o7777, 0o4755);
      assertEquals(st(`${l1}/bin/sgid`).mode! & 0o7777, 0o2755);
      assertEquals(st(`${l1}/bin/sgid`).gid, 50);
      assertEquals(st(`${l1}/sticky`).mode! & 0o7777, 0o1777);
      assertEquals([st(`${l1}/home/app/f`).uid, st(`${l1}/home/app/f`).gid], [1000, 1000]);
      assertEquals(st(`${l1}/home/app/f`).mode! & 0o7777, 0o640);
      assertEquals(st(`${l1}/home/app`).mode! & 0o7777, 0o750);
      assertEquals(lgetxattr(`${l1}/cap`, "security.capability"), CAP);
      assertEquals(new TextDecoder().decode(lgetxattr(`${l1}/cap`, "user.note")!), "hi");
      assertEquals(Deno.readLinkSync(`${l1}/abs`), "/etc/keep");
      assertEquals(Deno.readLinkSync(`${l1}/rel`), "etc/keep");
      assertEquals(st(`${l1}/abs`).mtime!.getTime(), 1500000000 * 1000);
      assertEquals(st(`${l1}/abs`).uid, 1000);
      assertEquals(st(`${l1}/data`).mtime!.getTime(), 1600000000 * 1000);
      assertEquals(st(`${l1}/data/a`).mtime!.getTime(), 1600000001 * 1000);
      assertEquals(st(`${l1}/data/hl`).ino, st(`${l1}/data/a`).ino);
      assert(st(`${l1}/dev/mynull`).isCharDevice);
      assertEquals(st(`${l1}/dev/mynull`).rdev, (1 << 8) | 3);
      assert(st(`${l1}/dev/blk`).isBlockDevice);
      assert(st(`${l1}/run/fifo`).isFifo);
      assertEquals(
        Deno.readTextFileSync(`${l1}/long/${"n".repeat(120)}/${"m".repeat(110)}`),
        "deep",
      );
      // Whiteouts in overlay form.
      assert(st(`${l2}/gone`).isCharDevice);
      assertEquals(st(`${l2}/gone`).rdev, 0);
      assertEquals(
        new TextDecoder().decode(lgetxattr(`${l2}/opq`, "trusted.overlay.opaque")!),
        "y",
      );
      assert(Deno.statSync(`${l3}/data/c`).isFile);

      // A real overlay mount of the three layers behaves as the image means.
      const mount = await new Deno.Command("mount", {
        args: ["-t", "overlay", "overlay", "-o", `lowerdir=${l3}:${l2}:${l1}`, mnt],
        stderr: "piped",
      }).output();
      assert(mount.success, new TextDecoder().decode(mount.stderr));
      mounted = true;
      assert(!(await exists(`${mnt}/gone`)), "whiteout hides gone");
      assertEquals([...Deno.readDirSync(`${mnt}/opq`)].map((e) => e.name), ["new"]);
      assertEquals(Deno.readTextFileSync(`${mnt}/data/c`), "c");
      assertEquals(Deno.readTextFileSync(`${mnt}/data/a`), "a");
    } finally {
      if (mounted) await new Deno.Command("umount", { args: [mnt] }).output();
      await Deno.remove(mnt, { recursive: true }).catch(() => {});
      await fx.dispose();
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

function sha(p: string): string {
  return createHash("sha256").update(Deno.readFileSync(p)).digest("hex");
}

Deno.test({
  name:
    "unpack: malicious layers are rejected, name the entry, write nothing outside, leave nothing",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const registry = await TestRegistry.start();
    const fx = await ImageFixture.create();
    const hostDir = await makeTempDir("victim");
    const marker = `skiff-evil-${randomHex(8)}`;
    const passwdHash = sha("/etc/passwd");
    const passwdLinks = Deno.statSync("/etc/passwd").nlink;
    // Where a `..` escape from the unpack dir could land: every ancestor of it, up to /.
    const ancestors: string[] = [];
    for (
      let d = `${fx.imageDir}/layers/tmp/x`;
      d !== "/";
      d = d.slice(0, d.lastIndexOf("/")) || "/"
    ) {
      ancestors.push(d.slice(0, d.lastIndexOf("/")) || "/");
    }
    const hostRel = hostDir.replace(/^\//, "");
    const up = "../".repeat(20);
    const cases: { name: string; entries: TarEntry[]; entry: string; why: RegExp }[] = [
      {
        name: "dot-dot path",
        entries: [file(`../${marker}`, "x")],
        entry: `../${marker}`,
        why: /\.\./,
      },
      {
        name: "deep dot-dot path",
        entries: [dir("a"), file(`a/../../../${marker}`, "x")],
        entry: `a/../../../${marker}`,
        why: /\.\./,
      },
      {
        name: "absolute path",
        entries: [file(`${hostDir}/${marker}`, "x")],
        entry: `${hostDir}/${marker}`,
        why: /absolute/,
      },
      {
        name: "symlink then write-through (absolute target)",
        entries: [symlink("esc", hostDir), file(`esc/${marker}`, "x")],
        entry: `esc/${marker}`,
        why: /through the symlink "esc"/,
      },
      {
        name: "symlink then write-through (relative escape)",
        entries: [symlink("esc", `${up}${hostRel}`), file(`esc/${marker}`, "x")],
        entry: `esc/${marker}`,
        why: /through the symlink/,
      },
      {
        name: "symlink then directory through it",
        entries: [symlink("esc", hostDir), dir(`esc/${marker}`)],
        entry: `esc/${marker}`,
        why: /through the symlink/,
      },
      {
        name: "hard link to /etc/passwd",
        entries: [hardlink("pw", "/etc/passwd"), file("pw", "root::0:0::/:/bin/sh\n")],
        entry: "pw",
        why: /absolute hard link target/,
      },
      {
        name: "hard link to ../../etc/passwd",
        entries: [hardlink("pw", `${up}etc/passwd`)],
        entry: "pw",
        why: /\.\./,
      },
      {
        name: "hard link to a file this layer lacks",
        entries: [hardlink("pw", "etc/passwd")],
        entry: "pw",
        why: /does not contain/,
      },
      {
        name: "symlink loop",
        entries: [symlink("l1", "l2"), symlink("l2", "l1"), file(`l1/${marker}`, "x")],
        entry: `l1/${marker}`,
        why: /through the symlink "l1"/,
      },
    ];
    try {
      for (const [i, c] of cases.entries()) {
        await t.step(c.name, async () => {
          const built = await buildImage({
            layers: [[dir("ok"), file("ok/fine", "fine")], c.entries],
          });
          const pushed = await pushImage(registry, `test/evil${i}:1`, built);
          let err: unknown;
          try {
            await fx.images.pull(pushed.ref);
          } catch (e) {
            err = e;
          }
          assert(err instanceof Error, "pull must fail");
          assertEquals(errorKind(err), "failed_precondition");
          assert(err.message.includes(JSON.stringify(c.entry)), err.message);
          assert(c.why.test(err.message), err.message);
          // Nothing stored for it, nothing left behind, nothing outside.
          assertEquals(fx.images.resolve(pushed.ref), undefined);
          assertEquals(fx.layerDirCount(), 0);
          assertEquals(fx.images.content.list(), []);
          assertEquals(fx.leftovers(), 0);
          assertEquals([...Deno.readDirSync(hostDir)], []);
          for (const a of ancestors) assert(!(await exists(`${a}/${marker}`)), `${a}/${marker}`);
          assert(!(await exists(`/${marker}`)));
          assertEquals(sha("/etc/passwd"), passwdHash);
          assertEquals(Deno.statSync("/etc/passwd").nlink, passwdLinks);
        });
      }
    } finally {
      await fx.dispose();
      await registry.stop();
      await Deno.remove(hostDir, { recursive: true });
    }
  },
});
