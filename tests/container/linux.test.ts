/** The libc calls Skiff makes through FFI: FIFOs and mounts, with exact modes and clear errors. */
import assert from "node:assert/strict";
import { mkfifoSync } from "../../linux/fifo.ts";
import {
  isMountedSync,
  MNT_DETACH,
  mountSync,
  splitMountOptions,
  umountSync,
} from "../../linux/mounts.ts";
import { isRoot } from "../helpers/env.ts";

Deno.test("mkfifoSync: a 0600 FIFO; an existing path or a missing dir is a clear error", () => {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-test-fifo-" });
  try {
    mkfifoSync(`${dir}/sync`);
    const st = Deno.lstatSync(`${dir}/sync`);
    assert.ok(st.isFifo);
    assert.equal(st.mode! & 0o777, 0o600);
    assert.throws(() => mkfifoSync(`${dir}/sync`), /mkfifo .*sync: File exists/);
    assert.throws(() => mkfifoSync(`${dir}/missing/sync`), /No such file or directory/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("splitMountOptions: mount(8)'s flag words become flags, the rest stays data", () => {
  assert.deepEqual(splitMountOptions("nosuid,nodev,noexec,mode=1777,size=65536k"), {
    flags: 2 | 4 | 8,
    data: "mode=1777,size=65536k",
  });
  assert.deepEqual(splitMountOptions("ro"), { flags: 1, data: "" });
});

Deno.test({
  name: "mountSync/umountSync: a real tmpfs mounted and unmounted; errors carry the OS's reason",
  ignore: !isRoot(),
  fn: () => {
    const dir = Deno.makeTempDirSync({ prefix: "skiff-test-mount-" });
    try {
      mountSync("shm", dir, "tmpfs", "mode=0700,size=1m", 2 | 4);
      assert.ok(isMountedSync(dir));
      assert.equal(Deno.statSync(dir).mode! & 0o777, 0o700);
      assert.throws(
        () => mountSync("x", `${dir}/missing`, "tmpfs", ""),
        /mount tmpfs on .*missing.*: No such file or directory/,
      );
      assert.throws(() => mountSync("x", dir, "no-such-fs", ""), /No such device/);
      assert.equal(umountSync(dir).errno, 0);
      assert.ok(!isMountedSync(dir));
      const again = umountSync(dir, MNT_DETACH);
      assert.notEqual(again.errno, 0);
      assert.match(again.text, /Invalid argument/);
    } finally {
      umountSync(dir, MNT_DETACH);
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
