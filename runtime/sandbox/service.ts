/**
 * Pod sandboxes without a pause process: a sandbox is a set of pinned namespaces (net, ipc,
 * uts) under `<state_dir>/ns/`, the pod's files (resolv.conf, hosts, hostname, a /dev/shm
 * tmpfs) under `<state_dir>/sandboxes/<id>/`, a CNI attachment, and a record in the store.
 * Only a pod that shares one PID namespace gets an infra process.
 *
 * The service owns the records, the one per-sandbox lock, lookups, and the sandbox's own
 * container events (it publishes them; nothing wraps it to do so). Each verb lives in a
 * file of its own (run.ts, stop.ts, remove.ts, recover.ts); the lifecycle is in state.ts.
 */
import type { Config } from "../../core/config/mod.ts";
import { NotFoundError } from "../../core/errors.ts";
import { KeyedLock } from "../../core/keyed_lock.ts";
import type { CniNetworkConfig } from "../../network/cni.ts";
import { prepareNamespaceDir } from "../../network/netns.ts";
import type {
  ContainerEvent,
  ContainerEventType,
  EventPublisher,
  PodContainers,
  SandboxForContainer,
  SandboxProvider,
} from "../contracts.ts";
import type { PodSandboxConfig } from "../model.ts";
import type { SandboxContext, SandboxDeps } from "./context.ts";
import { PodNetwork } from "./network.ts";
import { checkNetworks, checkRecoveredNetworks, recoverSandboxes } from "./recover.ts";
import {
  type SandboxFilter,
  type SandboxRecord,
  SandboxRecords,
  toSandboxForContainer,
  verboseInfoOf,
} from "./records.ts";
import { removeSandbox } from "./remove.ts";
import { runSandbox } from "./run.ts";
import { isVisible } from "./state.ts";
import { stopSandbox } from "./stop.ts";

/** What the service is built from (see `SandboxDeps`). */
export type SandboxServiceOptions = SandboxDeps;

export class SandboxService implements SandboxProvider {
  private readonly ctx: SandboxContext;
  private readonly records: SandboxRecords;
  private readonly network: PodNetwork;

  /** The background CHECK started by recover(), for callers that want to wait for it. */
  recoveryCheck: Promise<void> = Promise.resolve();

  constructor(deps: SandboxDeps) {
    this.records = new SandboxRecords(deps.store);
    this.network = new PodNetwork(deps.config, deps.podCidr);
    this.ctx = sandboxContext(deps, this.records, this.network);
  }

  get nsDir(): string {
    return this.ctx.nsDir;
  }
  get sandboxesDir(): string {
    return this.ctx.sandboxesDir;
  }
  get ipamDataDir(): string {
    return this.network.ipamDataDir;
  }

  builtInNetwork(): CniNetworkConfig | null {
    return this.network.builtIn();
  }

  // -------------------------------------------------------------------------------------
  // Lookups

  /** SandboxProvider: a ready or stopped sandbox, as containers see it. */
  getSandbox(id: string): SandboxForContainer | undefined {
    const r = this.records.view(id);
    if (!r || !isVisible(r.phase)) return undefined;
    return toSandboxForContainer(r);
  }

  /** The record (any phase), by full ID or unique ID prefix; read-only (frozen). */
  find(idOrPrefix: string): SandboxRecord | undefined {
    return this.records.view(idOrPrefix);
  }

  /** A visible sandbox by full ID or unique prefix, read-only (frozen); NOT_FOUND otherwise. */
  status(idOrPrefix: string): SandboxRecord {
    const rec = this.records.view(idOrPrefix);
    if (!rec || !isVisible(rec.phase)) {
      throw new NotFoundError(`pod sandbox ${JSON.stringify(idOrPrefix)} not found`);
    }
    return rec;
  }

  list(filter: SandboxFilter = {}): SandboxRecord[] {
    return this.records.list(filter);
  }

  /** Everything an operator wants to know, for PodSandboxStatus verbose. */
  verboseInfo(rec: SandboxRecord): Record<string, unknown> {
    return verboseInfoOf(rec);
  }

  // -------------------------------------------------------------------------------------
  // Verbs

  run(config: PodSandboxConfig, runtimeHandler: string): Promise<SandboxRecord> {
    return runSandbox(this.ctx, config, runtimeHandler);
  }

  /** Idempotent: unknown IDs and stopped sandboxes succeed. */
  stop(idOrPrefix: string): Promise<void> {
    return stopSandbox(this.ctx, idOrPrefix);
  }

  /** Idempotent: stops if needed, removes containers, unpins namespaces, deletes all. */
  remove(idOrPrefix: string): Promise<void> {
    return removeSandbox(this.ctx, idOrPrefix);
  }

  /**
   * At start: finishes the undo of sandboxes a crash interrupted, rechecks the others'
   * namespaces and infra processes, and removes leftovers no record owns. The CNI CHECK of
   * recovered attachments continues in the background (`recoveryCheck`).
   */
  async recover(): Promise<void> {
    const networked = await recoverSandboxes(this.ctx);
    this.recoveryCheck = checkRecoveredNetworks(this.ctx, networked);
  }

  /** CNI CHECK of every ready sandbox's attachment; returns the IDs that failed. */
  checkNetworks(): Promise<string[]> {
    return checkNetworks(this.ctx);
  }
}

function sandboxContext(
  deps: SandboxDeps,
  records: SandboxRecords,
  network: PodNetwork,
): SandboxContext {
  const config: Config = deps.config;
  const nsDir = `${config.state_dir}/ns`;
  const events: EventPublisher<ContainerEvent> = deps.events;
  let nsDirReady: Promise<void> | undefined;
  return {
    config,
    records,
    lock: new KeyedLock(),
    network,
    nsDir,
    sandboxesDir: `${config.state_dir}/sandboxes`,
    podContainers: (): PodContainers => deps.podContainers(),
    publish: (id: string, types: ContainerEventType[]) => {
      for (const type of types) {
        events.publish({ type, containerId: id, sandboxId: id, at: Date.now() });
      }
    },
    // Once per process: two concurrent first pods must not stack two bind mounts.
    namespaceDirReady: () =>
      nsDirReady ??= prepareNamespaceDir(nsDir).catch((err) => {
        nsDirReady = undefined;
        throw err;
      }),
  };
}
