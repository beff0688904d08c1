/**
 * Disk usage of a directory tree (a container's writable layer): bytes allocated as `du`
 * counts them (st_blocks × 512) and inodes used, hard links counted once, never following
 * symlinks or crossing into other filesystems (mounts inside the tree belong to others).
 */
import type { FilesystemSample } from "./types.ts";

export async function directoryUsage(root: string): Promise<FilesystemSample> {
  const at = Date.now();
  let rootInfo: Deno.FileInfo;
  try {
    rootInfo = await Deno.lstat(root);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { at, usedBytes: 0, inodesUsed: 0 };
    throw err;
  }
  const seen = new Set<string>();
  let usedBytes = 0;
  let inodesUsed = 0;
  const count = (info: Deno.FileInfo): boolean => {
    const key = `${info.dev}:${info.ino}`;
    if (seen.has(key)) return false;
    seen.add(key);
    usedBytes += (info.blocks ?? 0) * 512;
    inodesUsed++;
    return true;
  };
  count(rootInfo);
  if (!rootInfo.isDirectory) return { at, usedBytes, inodesUsed };
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      continue; // removed while walking: the container is writing, not an error
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(path);
      } catch {
        continue;
      }
      if (info.dev !== rootInfo.dev) continue;
      if (count(info) && info.isDirectory) stack.push(path);
    }
  }
  return { at, usedBytes, inodesUsed };
}
