/**
 * The persisted sandbox record (collection "sandboxes"), the index of pod names kubelet may
 * not reuse while a sandbox holds them, and the views other services take of a record.
 */
import { AlreadyExistsError } from "../../core/errors.ts";
import type { CniCapabilityArgs, CniNetworkConfig } from "../../network/cni.ts";
import type { PinnedNamespaces } from "../../network/netns.ts";
import type { Collection, Store } from "../../store/mod.ts";
import type { NamespaceMode, SandboxForContainer } from "../contracts.ts";
import type { PodSandboxConfig, PodSandboxState } from "../model.ts";
import { type InfraProcess, pidNamespacePath } from "./infra.ts";
import type { PodIdMappings } from "./userns.ts";
import { assertTransition, isVisible, type SandboxPhase, stateOf } from "./state.ts";

/** The persisted record of a sandbox (collection "sandboxes"). */
export interface SandboxRecord {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  phase: SandboxPhase;
  /** ms since the epoch */
  createdAt: number;
  runtimeHandler: string;
  config: PodSandboxConfig;
  namespaceModes: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  hostname: string;
  dir: string;
  ns: PinnedNamespaces;
  shmPath: string | null;
  resolvConfPath: string;
  hostsPath: string;
  hostnamePath: string;
  cgroupParent: string;
  logDirectory: string;
  sysctls: Record<string, string>;
  /** The network the pod was attached to, kept so DEL uses the same config. */
  network: CniNetworkConfig | null;
  networkSource: string;
  /** Set before CNI ADD starts, cleared after DEL succeeds: whether DEL is owed. */
  networkAttached: boolean;
  capabilityArgs: CniCapabilityArgs;
  ips: string[];
  infra: InfraProcess | null;
  /** The pod's own user namespace mappings (`hostUsers: false`); absent or null: the host's. */
  userns?: PodIdMappings | null;
}

export interface SandboxFilter {
  id?: string;
  state?: PodSandboxState;
  labelSelector?: Record<string, string>;
}

/** The key kubelet's pod name must be unique by: name, namespace, uid and attempt. */
export function nameKeyOf(
  r: Pick<SandboxRecord, "name" | "namespace" | "uid" | "attempt">,
): string {
  return `${r.name}_${r.namespace}_${r.uid}_${r.attempt}`;
}

/**
 * The records in the store, a read-through copy of them in memory, and the index of the
 * names they hold. The store is read once: kubelet lists and inspects pods every second, and
 * parsing every record out of SQLite on each call made ListPodSandbox grow with the node.
 * The memory copies are frozen (a reader that mutates one throws); the verbs that change a
 * record take a copy of their own (get/find) and save() it.
 */
export class SandboxRecords {
  private readonly collection: Collection<SandboxRecord>;
  private readonly byName = new Map<string, string>();
  private cached: Map<string, SandboxRecord> | null = null;

  constructor(store: Store) {
    this.collection = store.collection<SandboxRecord>("sandboxes");
  }

  private get memory(): Map<string, SandboxRecord> {
    this.cached ??= new Map(this.collection.list().map((r) => [r.id, deepFreeze(r)]));
    return this.cached;
  }

  /** A copy of the record, to change and save(). */
  get(id: string): SandboxRecord | undefined {
    const r = this.memory.get(id);
    return r ? structuredClone(r) : undefined;
  }

  /** A copy of the record (any phase), by full ID or unique ID prefix. */
  find(idOrPrefix: string): SandboxRecord | undefined {
    const r = this.view(idOrPrefix);
    return r ? structuredClone(r) : undefined;
  }

  /** The record (any phase), by full ID or unique ID prefix, read-only (frozen). */
  view(idOrPrefix: string): SandboxRecord | undefined {
    if (!idOrPrefix) return undefined;
    const exact = this.memory.get(idOrPrefix);
    if (exact) return exact;
    let match: SandboxRecord | undefined;
    for (const [id, r] of this.memory) {
      if (!id.startsWith(idOrPrefix)) continue;
      if (match) return undefined; // ambiguous
      match = r;
    }
    return match;
  }

  /** Copies of every record, half-made ones included (in ID order, as the store keeps them). */
  all(): SandboxRecord[] {
    return this.sorted().map((r) => structuredClone(r));
  }

  /** Every record, half-made ones included, read-only (frozen, not copied), in ID order. */
  views(): SandboxRecord[] {
    return this.sorted();
  }

  count(): number {
    return this.memory.size;
  }

  /** The visible records that match `filter`, read-only (frozen). */
  list(filter: SandboxFilter = {}): SandboxRecord[] {
    if (filter.id) {
      const one = this.view(filter.id);
      return one && isVisible(one.phase) && matches(one, filter) ? [one] : [];
    }
    return this.sorted().filter((r) => isVisible(r.phase) && matches(r, filter));
  }

  private sorted(): SandboxRecord[] {
    return [...this.memory.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  save(rec: SandboxRecord): void {
    this.collection.put(rec.id, rec);
    this.memory.set(rec.id, deepFreeze(structuredClone(rec)));
  }

  /** Moves a record to another phase (guarded by the state machine) and saves it. */
  transition(rec: SandboxRecord, to: SandboxPhase): void {
    assertTransition(rec.phase, to);
    rec.phase = to;
    this.save(rec);
  }

  /** Drops a record whose resources are all gone, and frees its name. */
  forget(rec: SandboxRecord): void {
    assertTransition(rec.phase, "removed");
    this.collection.delete(rec.id);
    this.memory.delete(rec.id);
    this.releaseName(rec);
  }

  /** Reserves the record's pod name for it; throws ALREADY_EXISTS if another holds it. */
  claimName(rec: SandboxRecord): void {
    const key = nameKeyOf(rec);
    const holder = this.byName.get(key);
    if (holder && holder !== rec.id) {
      throw new AlreadyExistsError(
        `pod sandbox name "${key}" is already used by sandbox ${holder}; remove it first ` +
          `or use another attempt number`,
      );
    }
    this.byName.set(key, rec.id);
  }

  /** Indexes the name of a record found at start-up. */
  indexName(rec: SandboxRecord): void {
    this.byName.set(nameKeyOf(rec), rec.id);
  }

  releaseName(rec: SandboxRecord): void {
    const key = nameKeyOf(rec);
    if (this.byName.get(key) === rec.id) this.byName.delete(key);
  }
}

/** A ready or stopped sandbox as containers see it. */
export function toSandboxForContainer(r: SandboxRecord): SandboxForContainer {
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    uid: r.uid,
    state: stateOf(r),
    runtimeHandler: r.runtimeHandler,
    netnsPath: r.ns.net,
    ipcnsPath: r.ns.ipc,
    utsnsPath: r.ns.uts,
    usernsPath: r.ns.user ?? null,
    idMappings: r.userns ?? null,
    pidnsPath: r.infra ? pidNamespacePath(r.infra) : null,
    hostNetwork: r.namespaceModes.network === "NODE",
    hostIpc: r.namespaceModes.ipc === "NODE",
    hostPid: r.namespaceModes.pid === "NODE",
    privileged: !!r.config.linux?.security_context?.privileged,
    hostname: r.hostname,
    resolvConfPath: r.resolvConfPath,
    hostsPath: r.hostsPath,
    hostnamePath: r.hostnamePath,
    shmPath: r.shmPath,
    cgroupParent: r.cgroupParent,
    logDirectory: r.logDirectory,
    sysctls: r.sysctls,
    labels: r.config.labels ?? {},
    annotations: r.config.annotations ?? {},
  };
}

/** Everything an operator wants to know, for PodSandboxStatus verbose. */
export function verboseInfoOf(rec: SandboxRecord): Record<string, unknown> {
  return {
    pid: rec.infra?.pid ?? 0,
    runtimeHandler: rec.runtimeHandler,
    phase: rec.phase,
    namespaces: rec.ns,
    userNamespace: rec.userns ?? null,
    pidNamespace: rec.infra ? pidNamespacePath(rec.infra) : null,
    shmPath: rec.shmPath,
    resolvConfPath: rec.resolvConfPath,
    hostsPath: rec.hostsPath,
    hostnamePath: rec.hostnamePath,
    cgroupParent: rec.cgroupParent,
    network: rec.network ? { name: rec.network.name, source: rec.networkSource } : null,
    cniCapabilityArgs: rec.capabilityArgs,
    ips: rec.ips,
    sysctls: rec.sysctls,
    config: rec.config,
  };
}

function matches(r: SandboxRecord, filter: SandboxFilter): boolean {
  if (filter.state && stateOf(r) !== filter.state) return false;
  const labels = r.config.labels ?? {};
  return Object.entries(filter.labelSelector ?? {}).every(([k, v]) => labels[k] === v);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
