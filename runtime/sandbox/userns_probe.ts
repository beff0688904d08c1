/**
 * Whether pods with their own user namespace really work on this node, per runtime handler:
 * the kernel must make idmapped mounts on the filesystems Skiff uses (the root dir's, for the
 * image layers under an overlay, and tmpfs, for /dev/shm), overlayfs must accept idmapped
 * lower layers, and the OCI runtime must know user namespaces (`<runtime> features`). Probed
 * once per process (a few ms), with the reason when not.
 */
import type { Config } from "../../core/config/mod.ts";
import { errorMessage, FailedPreconditionError } from "../../core/errors.ts";
import { isIdmappedIn, mountIdmapped } from "../../linux/idmap.ts";
import { mountSync } from "../../linux/mounts.ts";
import { mountOverlaySync } from "../../linux/overlay.ts";
import { detachMountsUnder } from "../rootfs.ts";
import { checkNoOverlap, type PodIdMappings } from "./userns.ts";

export interface UsernsSupport {
  supported: boolean;
  /** Why not, for Status verbose info; "" when supported. */
  reason: string;
}

const cache = new Map<string, Promise<UsernsSupport>>();

/**
 * Admits a pod's own user namespace on handler `name`: FAILED_PRECONDITION where this node
 * cannot run one (with why), INVALID_ARGUMENT when its host range overlaps another pod's.
 */
export async function admitUserNamespace(
  config: Config,
  name: string,
  want: PodIdMappings,
  podUid: string,
  others: { uid: string; userns?: PodIdMappings | null }[],
): Promise<void> {
  const support = await usernsSupport(config, name);
  if (!support.supported) {
    throw new FailedPreconditionError(
      `runtime handler "${name}" cannot run pods in their own user namespace on this node: ` +
        support.reason,
    );
  }
  checkNoOverlap(want, podUid, others);
}

/** The support of handler `name` (its config and runtime binary), probed once. */
export function usernsSupport(config: Config, name: string): Promise<UsernsSupport> {
  const handler = config.runtime.handlers[name];
  if (!handler) return Promise.resolve({ supported: false, reason: "unknown handler" });
  if (!handler.user_namespaces) {
    return Promise.resolve({
      supported: false,
      reason: `disabled in the config ([runtime.handlers.${name}] user_namespaces = false)`,
    });
  }
  const key = `${config.root_dir}\0${config.state_dir}\0${handler.binary}`;
  let p = cache.get(key);
  if (!p) {
    p = probe(config.root_dir, config.state_dir, handler.binary);
    cache.set(key, p);
  }
  return p;
}

async function probe(rootDir: string, stateDir: string, binary: string): Promise<UsernsSupport> {
  const closed = closedAncestor(stateDir);
  if (closed) {
    return {
      supported: false,
      reason: `the state dir's path is not searchable by other users (${closed} needs o+x): ` +
        `a pod's root, an unprivileged uid on the node, must reach its container's rootfs`,
    };
  }
  const runtime = await runtimeKnowsUserns(binary);
  if (runtime) return { supported: false, reason: runtime };
  const kernel = await kernelIdmaps(rootDir).catch((e) => errorMessage(e));
  return kernel ? { supported: false, reason: kernel } : { supported: true, reason: "" };
}

/** The first of `path` and its parents that others may not search (no o+x), or null. */
export function closedAncestor(path: string): string | null {
  const parts = path.split("/").filter(Boolean);
  for (let i = parts.length; i >= 0; i--) {
    const dir = "/" + parts.slice(0, i).join("/");
    try {
      if ((Deno.statSync(dir).mode! & 0o001) === 0) return dir;
    } catch {
      // not made yet: Skiff makes it searchable
    }
  }
  return null;
}

/** "" when `<binary> features` lists the user namespace, else why not. */
async function runtimeKnowsUserns(binary: string): Promise<string> {
  try {
    const out = await new Deno.Command(binary, { args: ["features"], stdin: "null" }).output();
    if (!out.success) return `${binary} has no "features" command (too old for user namespaces)`;
    const f = JSON.parse(new TextDecoder().decode(out.stdout));
    const ns: unknown = f?.linux?.namespaces;
    return Array.isArray(ns) && ns.includes("user")
      ? ""
      : `${binary} does not support user namespaces`;
  } catch (err) {
    return `cannot ask ${binary} for its features: ${errorMessage(err)}`;
  }
}

/**
 * "" when, in a scratch dir on the root dir's filesystem, a directory and a tmpfs can be
 * idmapped with a fresh user namespace and overlayfs mounts over the idmapped directory.
 */
async function kernelIdmaps(rootDir: string): Promise<string> {
  await Deno.mkdir(rootDir, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: rootDir, prefix: ".userns-probe-" });
  const holder = new Deno.Command("unshare", {
    args: ["--user", "--", "sleep", "30"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const done = holder.status;
  try {
    const userns = `/proc/${holder.pid}/ns/user`;
    const own = await Deno.readLink("/proc/self/ns/user");
    for (let i = 0; i < 2500 && await Deno.readLink(userns).catch(() => own) === own; i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
    await Deno.writeTextFile(`/proc/${holder.pid}/uid_map`, "0 100000 65536\n");
    await Deno.writeTextFile(`/proc/${holder.pid}/gid_map`, "0 100000 65536\n");
    for (const d of ["layer", "tmp", "upper", "work", "merged"]) await Deno.mkdir(`${dir}/${d}`);
    const mountinfo = () => Deno.readTextFileSync("/proc/self/mountinfo");
    try {
      await mountIdmapped(`${dir}/layer`, `${dir}/layer-idmapped`, userns);
    } catch (err) {
      return `the root dir's filesystem cannot be idmapped: ${errorMessage(err)}`;
    }
    // Through the same builder as every container rootfs (linux/overlay.ts).
    mountOverlaySync(`${dir}/merged`, {
      lowerTopFirst: [`${dir}/layer-idmapped`],
      upper: `${dir}/upper`,
      work: `${dir}/work`,
    });
    mountSync("tmpfs", `${dir}/tmp`, "tmpfs", "size=64k");
    try {
      await mountIdmapped(`${dir}/tmp`, `${dir}/tmp-idmapped`, userns);
    } catch (err) {
      return `tmpfs cannot be idmapped (needs Linux ≥ 6.3): ${errorMessage(err)}`;
    }
    if (!isIdmappedIn(mountinfo(), `${dir}/tmp-idmapped`)) return "idmapped mounts not shown";
    return "";
  } catch (err) {
    return `idmapped mounts do not work here: ${errorMessage(err)}`;
  } finally {
    try {
      holder.kill("SIGKILL");
    } catch { /* already gone */ }
    await done;
    if (detachMountsUnder(dir)) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
