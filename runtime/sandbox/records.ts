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

/** The records in the store plus the in-memory index of the names they hold. */
export class SandboxRecords {
  private readonly collection: Collection<SandboxRecord>;
  private readonly byName = new Map<string, string>();

  constructor(store: Store) {
    this.collection = store.collection<SandboxRecord>("sandboxes");
  }

  get(id: string): SandboxRecord | undefined {
    return this.collection.get(id);
  }

  /** The record (any phase), by full ID or unique ID prefix. */
  find(idOrPrefix: string): SandboxRecord | undefined {
    if (!idOrPrefix) return undefined;
    const exact = this.collection.get(idOrPrefix);
    if (exact) return exact;
    const matches = this.collection.list().filter((r) => r.id.startsWith(idOrPrefix));
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** Every record, half-made ones included. */
  all(): SandboxRecord[] {
    return this.collection.list();
  }

  count(): number {
    return this.collection.count();
  }

  /** The visible records that match `filter`. */
  list(filter: SandboxFilter = {}): SandboxRecord[] {
    let recs = this.all().filter((r) => isVisible(r.phase));
    if (filter.id) {
      const one = this.find(filter.id);
      recs = one && isVisible(one.phase) ? [one] : [];
    }
    if (filter.state) recs = recs.filter((r) => stateOf(r) === filter.state);
    const sel = Object.entries(filter.labelSelector ?? {});
    if (sel.length) {
      recs = recs.filter((r) => sel.every(([k, v]) => (r.config.labels ?? {})[k] === v));
    }
    return recs;
  }

  save(rec: SandboxRecord): void {
    this.collection.put(rec.id, rec);
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
