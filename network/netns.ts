/**
 * Pinned namespaces: a pod's network, IPC and UTS namespaces live as nsfs bind mounts on
 * files under `<state_dir>/ns/`, so they outlive every process and containers join them
 * by path. They are made by util-linux `unshare --net=FILE …` in a child process: Skiff
 * itself never calls unshare/setns (they act on one thread of a multi-threaded process).
 *
 * The ns dir is a bind mount of itself made shared (as `ip netns` does with /run/netns),
 * so that unmounting a pin also drops the copies that mount namespaces created later
 * (containers) hold, and the namespace is really freed.
 */
import { dirname } from "node:path";
import { InternalError } from "../core/errors.ts";
import { MNT_DETACH, umountSync } from "../linux/mounts.ts";

export type PinnedKind = "net" | "ipc" | "uts";

export interface PinnedNamespaces {
  net: string | null;
  ipc: string | null;
  uts: string | null;
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  const text = (new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout))
    .trim();
  return { ok: out.success, text };
}

/** Mount points under `dir` (inclusive), from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = line.split(" ")[4]?.replace(/\\040/g, " ");
    if (m && (m === dir || m.startsWith(dir + "/"))) out.push(m);
  }
  return out;
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountsUnder(path)).includes(path);
}

/** Makes `dir` a shared bind mount of itself, once. */
export async function prepareNamespaceDir(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o711 });
  if (await isMountPoint(dir)) return;
  for (
    const args of [["--bind", dir, dir], ["--make-private", dir], ["--make-shared", dir]]
  ) {
    const r = await run("mount", args);
    if (!r.ok) throw new InternalError(`cannot prepare namespace dir ${dir}: ${r.text}`);
  }
}

/**
 * Creates and pins the requested namespaces as `<dir>/<podId>-<kind>` files; when `hostname`
 * is given (and UTS is pinned) it is set inside the new UTS namespace. On failure nothing
 * is left behind.
 */
export async function pinNamespaces(
  dir: string,
  podId: string,
  want: { net: boolean; ipc: boolean; uts: boolean },
  hostname: string,
): Promise<PinnedNamespaces> {
  const pinned: PinnedNamespaces = { net: null, ipc: null, uts: null };
  const kinds = (["net", "ipc", "uts"] as const).filter((k) => want[k]);
  if (kinds.length === 0) return pinned;
  for (const k of kinds) pinned[k] = `${dir}/${podId}-${k}`;
  try {
    for (const k of kinds) await Deno.writeFile(pinned[k]!, new Uint8Array(), { mode: 0o444 });
    const args = kinds.map((k) => `--${k}=${pinned[k]}`);
    // unshare runs a command in the new namespaces; `hostname` sets the pod's name there.
    const cmd = want.uts && hostname ? ["hostname", hostname] : ["true"];
    const r = await run("unshare", [...args, "--", ...cmd]);
    if (!r.ok) throw new InternalError(`unshare ${args.join(" ")} failed: ${r.text}`);
    return pinned;
  } catch (err) {
    await unpinNamespaces(pinned);
    throw err;
  }
}

/**
 * Unmounts and deletes pinned namespace files; missing ones are fine (idempotent). One read
 * of mountinfo and umount2(2) through libc: no umount(8) spawn per file.
 */
export async function unpinNamespaces(pinned: PinnedNamespaces): Promise<void> {
  const errors: string[] = [];
  const paths = [pinned.net, pinned.ipc, pinned.uts].filter((p): p is string => !!p);
  if (paths.length === 0) return;
  const mounted = new Set(await mountsUnder(dirname(paths[0])));
  for (const path of paths) {
    if (mounted.has(path)) {
      const r = umountSync(path);
      // Busy is impossible for nsfs, but a lazy unmount is the safe fallback.
      if (r.errno !== 0 && umountSync(path, MNT_DETACH).errno !== 0) {
        errors.push(`umount ${path}: ${r.text}`);
      }
    }
    await Deno.remove(path).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) errors.push(`remove ${path}: ${e.message}`);
    });
  }
  if (errors.length) throw new InternalError(`cannot unpin namespaces: ${errors.join("; ")}`);
}

/** Whether a pinned namespace file is still a live nsfs mount. */
export async function isPinned(path: string): Promise<boolean> {
  return await isMountPoint(path);
}

/** Runs a command inside pinned namespaces with nsenter (argv, never a shell string). */
export async function runInNamespaces(
  pinned: PinnedNamespaces,
  argv: string[],
): Promise<{ ok: boolean; text: string }> {
  const args: string[] = [];
  if (pinned.net) args.push(`--net=${pinned.net}`);
  if (pinned.ipc) args.push(`--ipc=${pinned.ipc}`);
  if (pinned.uts) args.push(`--uts=${pinned.uts}`);
  return await run("nsenter", [...args, "--", ...argv]);
}
