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
import { MNT_DETACH, mountSync, umountSync } from "../linux/mounts.ts";

export type PinnedKind = "net" | "ipc" | "uts";

export interface PinnedNamespaces {
  net: string | null;
  ipc: string | null;
  uts: string | null;
  /** The pod's own user namespace, owner of the others; absent or null: the host's. */
  user?: string | null;
}

/** A user namespace's mappings, each as /proc/PID/uid_map takes it ("inside outside count"). */
export interface UsernsMaps {
  uidMap: string;
  gidMap: string;
}

const MS_BIND = 4096;

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
  userns: UsernsMaps | null = null,
): Promise<PinnedNamespaces> {
  if (userns) return await pinInUserNamespace(dir, podId, want, hostname, userns);
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
 * A new user namespace with `userns`'s mappings and the wanted namespaces created *inside*
 * it (one unshare(2) call makes the user namespace first and the others owned by it), so
 * that the pod's root may change its own sysctls, hostname and network as a host-users pod
 * would. util-linux 2.38's `unshare --map-users` needs newuidmap, which Debian does not
 * install; so a holder process (`unshare --user … sleep`) is made, Skiff (root in the parent
 * namespace) writes its uid_map/gid_map and bind-mounts its namespace files, then kills it.
 */
async function pinInUserNamespace(
  dir: string,
  podId: string,
  want: { net: boolean; ipc: boolean; uts: boolean },
  hostname: string,
  userns: UsernsMaps,
): Promise<PinnedNamespaces> {
  const kinds = (["net", "ipc", "uts"] as const).filter((k) => want[k]);
  const pinned: PinnedNamespaces = {
    net: null,
    ipc: null,
    uts: null,
    user: `${dir}/${podId}-user`,
  };
  for (const k of kinds) pinned[k] = `${dir}/${podId}-${k}`;
  const holder = new Deno.Command("unshare", {
    args: ["--user", ...kinds.map((k) => `--${k}`), "--", "sleep", "60"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const done = holder.output();
  try {
    const pid = holder.pid;
    await waitForOwnUserns(pid, done);
    await Deno.writeTextFile(`/proc/${pid}/uid_map`, userns.uidMap);
    await Deno.writeTextFile(`/proc/${pid}/gid_map`, userns.gidMap);
    for (const [k, path] of [["user", pinned.user!], ...kinds.map((k) => [k, pinned[k]!])]) {
      await Deno.writeFile(path, new Uint8Array(), { mode: 0o444 });
      mountSync(`/proc/${pid}/ns/${k}`, path, "", "", MS_BIND);
    }
    if (want.uts && hostname) {
      // Root of the parent user namespace may set it; the pod's root may change it later.
      const r = await run("nsenter", [`--uts=${pinned.uts}`, "--", "hostname", hostname]);
      if (!r.ok) throw new InternalError(`cannot set the pod's hostname: ${r.text}`);
    }
    return pinned;
  } catch (err) {
    await unpinNamespaces(pinned).catch(() => {});
    throw err;
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch { /* already gone */ }
    await done;
  }
}

/** Waits until `pid` has left Skiff's user namespace (its unshare(2) call is done). */
async function waitForOwnUserns(pid: number, done: Promise<Deno.CommandOutput>): Promise<void> {
  const own = await Deno.readLink("/proc/self/ns/user");
  let exited: Deno.CommandOutput | null = null;
  done.then((o) => exited = o);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (exited) {
      const text = new TextDecoder().decode((exited as Deno.CommandOutput).stderr).trim();
      throw new InternalError(`cannot create the pod's user namespace: ${text}`);
    }
    const link = await Deno.readLink(`/proc/${pid}/ns/user`).catch(() => own);
    if (link !== own) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new InternalError("cannot create the pod's user namespace: unshare did not finish");
}

/**
 * Unmounts and deletes pinned namespace files; missing ones are fine (idempotent). One read
 * of mountinfo and umount2(2) through libc: no umount(8) spawn per file.
 */
export async function unpinNamespaces(pinned: PinnedNamespaces): Promise<void> {
  const errors: string[] = [];
  // The user namespace last: it owns the others.
  const all = [pinned.net, pinned.ipc, pinned.uts, pinned.user ?? null];
  const paths = all.filter((p): p is string => !!p);
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
  return await run("nsenter", [...nsenterArgs(pinned, false), "--", ...argv]);
}

/**
 * nsenter's options for the pinned namespaces; with `user`, the pod's user namespace too
 * (nsenter then runs the command as the pod's root).
 */
export function nsenterArgs(pinned: PinnedNamespaces, user: boolean): string[] {
  const args: string[] = [];
  if (user && pinned.user) args.push(`--user=${pinned.user}`);
  if (pinned.net) args.push(`--net=${pinned.net}`);
  if (pinned.ipc) args.push(`--ipc=${pinned.ipc}`);
  if (pinned.uts) args.push(`--uts=${pinned.uts}`);
  return args;
}
