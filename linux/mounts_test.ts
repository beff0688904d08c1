import assert from "node:assert/strict";
import { propagationIn, splitMountOptions } from "./mounts.ts";

const MOUNTINFO = [
  "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
  "30 22 0:26 / /var/lib rw shared:5 master:2 - ext4 /dev/sdb rw",
  "31 30 0:27 / /var/lib/kubelet rw master:3 - ext4 /dev/sdc rw",
  "32 22 0:28 / /mnt/with\\040space rw - tmpfs tmpfs rw",
].join("\n");

Deno.test("propagationIn: the longest covering mount point decides", () => {
  assert.equal(propagationIn(MOUNTINFO, "/etc"), "shared");
  assert.equal(propagationIn(MOUNTINFO, "/var/lib/x"), "shared");
  assert.equal(propagationIn(MOUNTINFO, "/var/lib/kubelet/pods"), "slave");
  assert.equal(propagationIn(MOUNTINFO, "/var/libx"), "shared");
  assert.equal(propagationIn(MOUNTINFO, "/mnt/with space/a"), "private");
  assert.equal(propagationIn("", "/x"), "private");
});

Deno.test("splitMountOptions: flag words become flags", () => {
  assert.deepEqual(splitMountOptions("nosuid,nodev,size=64k"), { flags: 6, data: "size=64k" });
});
