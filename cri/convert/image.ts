/** Image records → CRI's Image, and the image store's usage → FilesystemUsage. */
import type { FilesystemUsage, Image } from "../types.ts";
import type { FsUsage, ImageRecord } from "../../image/mod.ts";
import type { DeepPartial } from "../handler.ts";
import { nanos, u64 } from "./values.ts";

/** uid for a numeric `User` (`user[:group]`), else the username, as containerd reports it. */
export function imageUser(user: string): { uid?: number; username: string } {
  const name = user.split(":")[0];
  if (name === "") return { username: "" };
  if (/^\d+$/.test(name)) return { uid: Number(name), username: "" };
  return { username: name };
}

export function image(r: ImageRecord, pinned: boolean): DeepPartial<Image> {
  const user = imageUser(r.user);
  return {
    id: r.id,
    repo_tags: r.repoTags,
    repo_digests: r.repoDigests,
    size: String(r.size),
    uid: user.uid !== undefined ? { value: String(user.uid) } : null,
    username: user.username,
    spec: { image: r.id, annotations: {} },
    pinned,
  };
}

export function filesystemUsage(u: FsUsage, at: number): DeepPartial<FilesystemUsage> {
  return {
    timestamp: nanos(at),
    fs_id: { mountpoint: u.mountpoint },
    used_bytes: u64(u.usedBytes),
    inodes_used: u64(u.inodesUsed),
  };
}
