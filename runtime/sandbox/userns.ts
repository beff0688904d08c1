/**
 * A pod's user namespace (`hostUsers: false`, KEP-127): which CRI `userns_options` Skiff
 * accepts. NODE (or no option) keeps the host's user namespace; POD gives the whole pod one
 * new user namespace with exactly one uid and one gid mapping, each mapping container ID 0
 * to an unprivileged host range. Everything else is refused as INVALID_ARGUMENT before any
 * side effect, saying what is wrong.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { IDMapping, UserNamespace } from "../model.ts";

/** The mappings of a pod's own user namespace, as recorded and handed to the OCI runtime. */
export interface PodIdMappings {
  uids: IDMapping;
  gids: IDMapping;
}

/** IDs are 32-bit; (uid_t)-1 is never valid. */
const ID_LIMIT = 2 ** 32 - 1;

/**
 * The pod's mappings, or null for the host's user namespace. `host` says which of the pod's
 * other namespaces are the node's (a user namespace cannot own those).
 */
export function planUserNamespace(
  opts: UserNamespace | null | undefined,
  host: { network: boolean; pid: boolean; ipc: boolean },
): PodIdMappings | null {
  if (!opts) return null;
  const mode = opts.mode ?? "POD";
  if (mode === "NODE") {
    if ((opts.uids?.length ?? 0) || (opts.gids?.length ?? 0)) {
      throw new InvalidArgumentError(
        "user namespace mode NODE uses the host's user namespace and takes no uid/gid mappings",
      );
    }
    return null;
  }
  if (mode !== "POD") {
    throw new InvalidArgumentError(
      `user namespace mode ${mode} is not supported: a pod's user namespace is either NODE ` +
        `(the host's) or POD (one for the whole pod)`,
    );
  }
  const shared = (["network", "pid", "ipc"] as const).filter((k) => host[k]);
  if (shared.length) {
    throw new InvalidArgumentError(
      `a pod in its own user namespace cannot use the host's ${shared.join(", ")} ` +
        `namespace (hostUsers: false excludes hostNetwork, hostPID and hostIPC)`,
    );
  }
  return { uids: oneMapping("uid", opts.uids), gids: oneMapping("gid", opts.gids) };
}

function oneMapping(kind: "uid" | "gid", list: IDMapping[] | undefined): IDMapping {
  const maps = list ?? [];
  if (maps.length !== 1) {
    throw new InvalidArgumentError(
      `user namespace mode POD needs exactly one ${kind} mapping, got ${maps.length}`,
    );
  }
  const m = maps[0];
  const [hostId, containerId, length] = [m.host_id, m.container_id, m.length].map(Number);
  const whole = [hostId, containerId, length].every((n) => Number.isInteger(n) && n >= 0);
  if (!whole) {
    throw new InvalidArgumentError(`${kind} mapping ${describe(m)}: IDs must be whole numbers`);
  }
  if (length === 0) {
    throw new InvalidArgumentError(`${kind} mapping ${describe(m)} has length 0`);
  }
  if (containerId !== 0) {
    throw new InvalidArgumentError(
      `${kind} mapping ${describe(m)} leaves container ${kind} 0 unmapped; ` +
        `the mapping must start at container ID 0`,
    );
  }
  if (hostId + length > ID_LIMIT || containerId + length > ID_LIMIT) {
    throw new InvalidArgumentError(`${kind} mapping ${describe(m)} runs past the 32-bit ID range`);
  }
  if (hostId === 0) {
    throw new InvalidArgumentError(
      `${kind} mapping ${describe(m)} overlaps the host's root ${kind} 0; ` +
        `map the pod onto an unprivileged host range`,
    );
  }
  return { host_id: hostId, container_id: containerId, length };
}

function describe(m: IDMapping): string {
  return `(container ${m.container_id} → host ${m.host_id}, length ${m.length})`;
}

/** Whether two mappings' host ranges share an ID. */
export function hostRangesOverlap(a: IDMapping, b: IDMapping): boolean {
  return a.host_id < b.host_id + b.length && b.host_id < a.host_id + a.length;
}

/**
 * Refuses mappings whose host range overlaps a live pod's of another pod UID: two pods on
 * one range would not be isolated from each other. kubelet keeps one range per pod UID, so
 * a new sandbox attempt of the same pod may reuse its range while the old one is around.
 */
export function checkNoOverlap(
  want: PodIdMappings,
  podUid: string,
  others: { uid: string; userns?: PodIdMappings | null }[],
): void {
  for (const o of others) {
    if (!o.userns || o.uid === podUid) continue;
    for (const kind of ["uids", "gids"] as const) {
      if (hostRangesOverlap(want[kind], o.userns[kind])) {
        throw new InvalidArgumentError(
          `${kind.slice(0, 3)} mapping ${describe(want[kind])} overlaps the host range of ` +
            `another pod on this node (${describe(o.userns[kind])})`,
        );
      }
    }
  }
}

/** The mapping as /proc/PID/uid_map takes it: "container host length". */
export function procMapLine(m: IDMapping): string {
  return `${m.container_id} ${m.host_id} ${m.length}\n`;
}
