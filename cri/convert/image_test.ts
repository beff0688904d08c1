import assert from "node:assert/strict";
import type { ImageRecord } from "../../image/mod.ts";
import { filesystemUsage, image, imageUser } from "./image.ts";

Deno.test("imageUser: numeric user is a uid, a name is a username, the group is dropped", () => {
  assert.deepEqual(imageUser(""), { username: "" });
  assert.deepEqual(imageUser("1000:1000"), { uid: 1000, username: "" });
  assert.deepEqual(imageUser("nginx:nginx"), { username: "nginx" });
});

Deno.test("image: the CRI Image of a record", () => {
  const r = {
    id: "sha256:abc",
    repoTags: ["docker.io/library/busybox:latest"],
    repoDigests: ["docker.io/library/busybox@sha256:def"],
    size: 2_000_000,
    user: "0",
  } as ImageRecord;
  assert.deepEqual(image(r, true), {
    id: "sha256:abc",
    repo_tags: ["docker.io/library/busybox:latest"],
    repo_digests: ["docker.io/library/busybox@sha256:def"],
    size: "2000000",
    uid: { value: "0" },
    username: "",
    spec: { image: "sha256:abc", annotations: {} },
    pinned: true,
  });
  assert.equal(image({ ...r, user: "" }, false).uid, null);
});

Deno.test("filesystemUsage: ns timestamp, mountpoint, uint64 values", () => {
  assert.deepEqual(
    filesystemUsage({ mountpoint: "/var/lib/skiff", usedBytes: 10, inodesUsed: 2 }, 1500),
    {
      timestamp: "1500000000",
      fs_id: { mountpoint: "/var/lib/skiff" },
      used_bytes: { value: "10" },
      inodes_used: { value: "2" },
    },
  );
});
