/**
 * Containers: created, started, stopped and removed by conmon and runc, remembered in the
 * store so that Skiff can be restarted or SIGKILLed at any time without touching running
 * containers; conmon's exit files say how a container ended. The lifecycle is the state
 * machine of state.ts; each verb has its own file, working on the ContainerContext.
 *
 * Where the files live:
 *   <state_dir>/containers/<id>/   bundle: config.json, rootfs (overlay mount point),
 *                                  conmon pid files, runc log, attach socket, ctl FIFO
 *   <state_dir>/containers/<id>/persist/exit, …/oom   written by conmon when it ends
 *   <root_dir>/containers/<id>/{upper,work}           the container's writable layer
 * A removed container's files, mounts and conmon cgroups are removed after RemoveContainer
 * returns, from a record in the store (cleanup.ts).
 */
import type { Config } from "../../core/config/mod.ts";
import { errorMessage, InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import { KeyedLock } from "../../core/keyed_lock.ts";
import type { Logger } from "../../core/log.ts";
import { hasHugetlbController, hostCgroupVersion } from "../../linux/cgroup.ts";
import { isAliveAsync } from "../../linux/processes.ts";
import type { Collection, Store } from "../../store/mod.ts";
import { resolveBinary } from "../binaries.ts";
import type {
  ContainerEvent,
  ContainerEventSink,
  ContainerEventType,
  ContainerForStreaming,
  ContainerLookup,
  ImageProvider,
  ImageUsage,
  PodContainers,
  SandboxProvider,
} from "../contracts.ts";
import type { LinuxContainerResources } from "../model.ts";
import { OciRuntime } from "../oci.ts";
import { CleanupQueue } from "./cleanup.ts";
import { createContainer } from "./create.ts";
import { settleExit } from "./exits.ts";
import { type ContainerMetrics, NO_CONTAINER_METRICS } from "./metrics.ts";
import { type ContainerListFilter, type ContainerRecord, nameKey } from "./record.ts";
import { recoverContainers } from "./recover.ts";
import { removeContainer } from "./remove.ts";
import { startContainer } from "./start.ts";
import { isLive } from "./state.ts";
import { stopContainer } from "./stop.ts";
import type { ContainerConfig } from "../model.ts";

export interface ContainerServiceDeps {
  config: Config;
  store: Store;
  images: ImageProvider;
  sandboxes: SandboxProvider;
  log: Logger;
  events?: ContainerEventSink;
  /** Start latency, restarts, OOM kills; nothing is counted without. */
  metrics?: ContainerMetrics;
}

/**
 * The container service's internals, shared by the verbs: records (cache and store), the
 * one per-container lock, host facts read once, and the bookkeeping of background reaps.
 */
export class ContainerContext {
  readonly records: Collection<ContainerRecord>;
  /** Every container that exists (made ones: a half-made one is not visible). */
  readonly cache = new Map<string, ContainerRecord>();
  /** `nameKey` → container ID, to refuse a second container of the same name and attempt. */
  readonly names = new Map<string, string>();
  /** One operation per container at a time (create/start/stop/remove). */
  readonly locks = new KeyedLock();
  readonly log: Logger;
  readonly metrics: ContainerMetrics;
  /** Where conmon writes `<id>` when a container ends. */
  readonly exitDir: string;
  readonly socketDir: string;
  readonly cgroupV2 = hostCgroupVersion() === 2;
  readonly hugetlb = hasHugetlbController();
  /** Lowest oom_score_adj a container may get (undefined: not yet read). */
  oomFloor: number | null | undefined;
  /** Set on shutdown: no new background work. */
  closed = false;
  /** Reaps running in the background, awaited by destroy() so none outlives a removal. */
  readonly reaps = new Map<string, Promise<void>>();
  /** Containers whose runtime state a reap already deleted: removal need not run runc again. */
  readonly reaped = new Set<string>();
  /** Set when an exit watcher reports exit files (ContainerService.watchExits). */
  exitsWatched = false;
  /** Live containers whose exit file the watcher reported and that are not settled yet. */
  readonly exitsReported = new Set<string>();
  /** Removed containers' leftovers, removed after RemoveContainer has replied. */
  readonly cleanups: CleanupQueue;

  constructor(readonly deps: ContainerServiceDeps) {
    this.records = deps.store.collection<ContainerRecord>("containers");
    this.log = deps.log;
    this.metrics = deps.metrics ?? NO_CONTAINER_METRICS;
    this.exitDir = `${deps.config.state_dir}/exits`;
    this.socketDir = `${deps.config.state_dir}/attach`;
    this.cleanups = new CleanupQueue({ store: deps.store, dirs: this, log: deps.log });
    this.metrics.watchCleanups(() => this.cleanups.size);
  }

  get config(): Config {
    return this.deps.config;
  }

  /** A container by full ID or unique prefix. */
  resolve(idOrPrefix: string): ContainerRecord {
    if (!idOrPrefix) throw new InvalidArgumentError("container ID is empty");
    const exact = this.cache.get(idOrPrefix);
    if (exact) return exact;
    const matches = [...this.cache.values()].filter((r) => r.id.startsWith(idOrPrefix));
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new InvalidArgumentError(
        `container ID prefix "${idOrPrefix}" matches ${matches.length} containers; give more characters`,
      );
    }
    throw new NotFoundError(`container "${idOrPrefix}" not found`);
  }

  remember(rec: ContainerRecord): void {
    this.cache.set(rec.id, rec);
    this.names.set(nameKey(rec), rec.id);
  }

  forget(rec: ContainerRecord): void {
    this.records.delete(rec.id);
    this.forgetInMemory(rec);
  }

  /** Drops the container from the indexes (its record is deleted by the caller). */
  forgetInMemory(rec: ContainerRecord): void {
    this.cache.delete(rec.id);
    this.exitsReported.delete(rec.id);
    const key = nameKey(rec);
    if (this.names.get(key) === rec.id) this.names.delete(key);
  }

  save(rec: ContainerRecord): void {
    this.records.put(rec.id, rec, rec.sandboxId);
  }

  /** The OCI runtime a container was made with (its handler's as it was then). */
  runtimeFor(rec: ContainerRecord): OciRuntime {
    return new OciRuntime({
      binary: resolveBinary(rec.runtimeBinary),
      root: rec.runtimeRoot,
      options: rec.runtimeOptions,
      systemdCgroup: this.deps.config.cgroup_driver === "systemd",
    });
  }

  publish(type: ContainerEventType, rec: ContainerRecord): void {
    const ev: ContainerEvent = {
      type,
      containerId: rec.id,
      sandboxId: rec.sandboxId,
      at: Date.now(),
    };
    try {
      this.deps.events?.publish(ev);
    } catch (err) {
      this.log.warn("event sink failed", { err: errorMessage(err) });
    }
  }
}

/**
 * How often conmons are looked at for one that died without writing an exit file, once an
 * exit watcher reports the files conmon does write (see ContainerService.sweepMonitors).
 */
const MONITOR_SWEEP_MS = 2000;

/** How long RemovePodSandbox waits for its containers' leftovers to be removed. */
const POD_CLEANUP_WAIT_MS = 5000;

/**
 * list()'s look at a live container's exit. With a watcher reporting exit files, only the
 * reported ones are looked at (conmon may still be draining the log); the rest are known to
 * run: kubelet relists every second, and an exit-file read that fails (an exception) plus a
 * /proc read per running container per call were most of ListContainers' own time.
 */
function settleForList(ctx: ContainerContext, rec: ContainerRecord): void {
  if (!isLive(rec)) return;
  if (ctx.exitsWatched && !ctx.exitsReported.has(rec.id)) return;
  if (settleExit(ctx, rec)) ctx.exitsReported.delete(rec.id);
}

export class ContainerService implements ImageUsage, PodContainers, ContainerLookup {
  private readonly ctx: ContainerContext;
  private monitorSweep: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;

  constructor(deps: ContainerServiceDeps) {
    this.ctx = new ContainerContext(deps);
  }

  /**
   * Loads state, settles containers that ended while Skiff was away, cleans half-made ones,
   * and queues the leftovers of removals an earlier run did not finish.
   */
  async recover(): Promise<void> {
    await recoverContainers(this.ctx);
    const resumed = this.ctx.cleanups.resume();
    if (resumed > 0) this.ctx.log.info("container cleanups resumed", { count: resumed });
  }

  /**
   * No new background work. Removals' cleanups not done yet stay recorded for the next
   * start; the returned promise resolves when the running ones have ended.
   */
  close(): Promise<void> {
    this.ctx.closed = true;
    clearInterval(this.monitorSweep);
    return this.ctx.cleanups.close();
  }

  /** Resolves once every removed container's leftovers are gone (for tests and shutdown). */
  cleanupsDrained(): Promise<void> {
    return this.ctx.cleanups.drained();
  }

  /** Where conmon writes `<id>` when a container ends (for an inotify exit watcher). */
  get exitsDir(): string {
    return this.ctx.exitDir;
  }

  /**
   * From now on an exit watcher calls settle() for every exit file that appears, so list()
   * need not look for exit files of its own on every call (see settleForList).
   */
  watchExits(): void {
    this.ctx.exitsWatched = true;
    this.monitorSweep ??= setInterval(() => this.sweepMonitors(), MONITOR_SWEEP_MS);
    Deno.unrefTimer(this.monitorSweep);
  }

  /**
   * conmon writes the exit file before it exits, and the watcher reports it; only a conmon
   * that died without writing one (SIGKILLed, OOM-killed) goes unreported. Found here, off
   * the request path, with async /proc reads, and settled (EXITED or UNKNOWN, monitorLost).
   */
  private async sweepMonitors(): Promise<void> {
    if (this.sweeping || this.ctx.closed) return;
    this.sweeping = true;
    try {
      for (const rec of [...this.ctx.cache.values()]) {
        if (!isLive(rec) || this.ctx.exitsReported.has(rec.id)) continue;
        if (await isAliveAsync(rec.conmonPid)) continue;
        if (!this.ctx.closed) this.settle(rec.id);
      }
    } catch (err) {
      this.ctx.log.warn("conmon sweep failed", { err: errorMessage(err) });
    } finally {
      this.sweeping = false;
    }
  }

  /** Settles a container whose exit file appeared: records the exit, publishes the event. */
  settle(id: string): void {
    const rec = this.ctx.cache.get(id);
    if (!rec) return;
    if (settleExit(this.ctx, rec)) this.ctx.exitsReported.delete(id);
    else this.ctx.exitsReported.add(id);
  }

  /**
   * Stores the resources an UpdateContainerResources applied (runtime/maintenance.ts runs
   * `runc update`), so ContainerStatus reports what is in force.
   */
  recordResources(id: string, resources: LinuxContainerResources): void {
    const rec = this.ctx.resolve(id);
    rec.resources = resources;
    this.ctx.save(rec);
  }

  create(sandboxId: string, config: ContainerConfig): Promise<string> {
    return createContainer(this.ctx, sandboxId, config);
  }

  start(idOrPrefix: string): Promise<void> {
    return startContainer(this.ctx, idOrPrefix);
  }

  /** Stops a running container (stop signal, SIGKILL after the grace); no-op otherwise. */
  stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    return stopContainer(this.ctx, idOrPrefix, timeoutSeconds);
  }

  remove(idOrPrefix: string): Promise<void> {
    return removeContainer(this.ctx, idOrPrefix);
  }

  /** A container by full ID or unique prefix, with its exit settled if it ended. */
  get(idOrPrefix: string): ContainerRecord {
    const rec = this.ctx.resolve(idOrPrefix);
    const ctx = this.ctx;
    // With a watcher reporting exits, a live container whose exit was not reported has not
    // ended (conmon writes the exit file before it exits; sweepMonitors finds a conmon that
    // died without one): no exit-file read, which fails with an exception, per status call.
    const trusted = ctx.exitsWatched && isLive(rec) && !ctx.exitsReported.has(rec.id);
    if (!trusted && settleExit(ctx, rec)) ctx.exitsReported.delete(rec.id);
    return rec;
  }

  list(filter: ContainerListFilter = {}): ContainerRecord[] {
    let recs = [...this.ctx.cache.values()];
    if (filter.id) recs = recs.filter((r) => r.id.startsWith(filter.id!));
    if (filter.sandboxId) recs = recs.filter((r) => r.sandboxId.startsWith(filter.sandboxId!));
    for (const r of recs) settleForList(this.ctx, r);
    if (filter.state) recs = recs.filter((r) => r.state === filter.state);
    if (filter.labels) {
      const want = Object.entries(filter.labels);
      recs = recs.filter((r) => want.every(([k, v]) => r.labels[k] === v));
    }
    return recs.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The spec written for the container (for verbose status). */
  spec(rec: ContainerRecord): unknown {
    try {
      return JSON.parse(Deno.readTextFileSync(`${rec.bundleDir}/config.json`));
    } catch {
      return null;
    }
  }

  containersUsingImage(imageId: string): string[] {
    return [...this.ctx.cache.values()]
      .filter((r) => r.imageId === imageId || r.volumeImageIds?.includes(imageId))
      .map((r) => r.id);
  }

  async stopPodContainers(sandboxId: string, timeoutSeconds: number): Promise<void> {
    const recs = [...this.ctx.cache.values()].filter((r) => r.sandboxId === sandboxId);
    await Promise.all(recs.map((r) => this.stop(r.id, timeoutSeconds)));
  }

  /**
   * Removes the pod's containers and waits (a bounded while) for the leftovers of all its
   * removed containers to go, so that nothing of the pod is left when RemovePodSandbox
   * returns (kubelet removes the pod's cgroup next). What is not gone by then stays queued.
   */
  async removePodContainers(sandboxId: string): Promise<void> {
    const recs = [...this.ctx.cache.values()].filter((r) => r.sandboxId === sandboxId);
    await Promise.all(recs.map((r) => this.remove(r.id)));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), POD_CLEANUP_WAIT_MS);
    });
    const settled = this.ctx.cleanups.podSettled(sandboxId).then(() => true);
    const done = await Promise.race([settled, late]).finally(() => clearTimeout(timer));
    if (!done) this.ctx.log.warn("pod's container leftovers still queued", { sandbox: sandboxId });
  }

  getContainerForStreaming(idOrPrefix: string): ContainerForStreaming | undefined {
    let rec: ContainerRecord;
    try {
      rec = this.get(idOrPrefix);
    } catch {
      return undefined;
    }
    return {
      id: rec.id,
      sandboxId: rec.sandboxId,
      state: rec.state,
      pid: rec.state === "CONTAINER_RUNNING" ? rec.pid : 0,
      tty: rec.tty,
      stdin: rec.stdin,
      runtimeBinary: rec.runtimeBinary,
      runtimeRoot: rec.runtimeRoot,
      runtimeOptions: rec.runtimeOptions,
      attachSocketPath: `${rec.bundleDir}/attach`,
      ctlFifoPath: `${rec.bundleDir}/ctl`,
      bundleDir: rec.bundleDir,
    };
  }
}
