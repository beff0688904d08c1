/**
 * What a removed container leaves on the node, removed after RemoveContainer has replied:
 * conmon's cgroups, the rootfs and other mounts under the bundle, the bundle, the writable
 * layer, the exit file and the attach socket dir. containerd likewise leaves its snapshot
 * removal to its garbage collector; here those steps were ~5 ms of every removal.
 *
 * Durable: the leftovers are recorded in the store in the same transaction that deletes the
 * container's record, so a Skiff killed before they are gone finds them again at start
 * (resume()). Bounded: at most CONCURRENCY cleanups at a time, each all async (mount table
 * reads, unmounts on the FFI pool, removals on the blocking pool), none on the event loop
 * for long. A cleanup that fails (conmon still in its cgroup, a busy mount) is logged and
 * tried again with a growing delay, and again at the next start.
 */
import { dirname } from "node:path";
import { errorMessage } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { Collection, Store } from "../../store/mod.ts";
import { unmountUnder } from "../rootfs.ts";
import { removeConmonCgroups } from "./conmon_cgroups.ts";
import type { ContainerRecord } from "./record.ts";

/** What is left of a removed container, by path: its ID is never looked up again. */
export interface Leftovers {
  id: string;
  sandboxId: string;
  bundleDir: string;
  upperDir: string;
  /** Pod cgroup conmon was moved under (cgroupfs driver). */
  conmonCgroupParent?: string;
  /** When it was removed (ms since the epoch). */
  removedAt: number;
}

export function leftoversOf(rec: ContainerRecord): Leftovers {
  return {
    id: rec.id,
    sandboxId: rec.sandboxId,
    bundleDir: rec.bundleDir,
    upperDir: rec.upperDir,
    conmonCgroupParent: rec.conmonCgroupParent,
    removedAt: Date.now(),
  };
}

/** Where the service keeps per-container files outside the bundle. */
export interface CleanupDirs {
  exitDir: string;
  socketDir: string;
}

/**
 * Removes a container's leftovers; idempotent. Throws when something cannot go yet (conmon
 * still in its cgroup, a mount that stays), after every independent step has been tried.
 */
export async function removeLeftovers(dirs: CleanupDirs, l: Leftovers): Promise<void> {
  // Independent of each other: each async fs call is a round trip to a thread pool.
  const results = await Promise.allSettled([
    removeConmonCgroups(l.conmonCgroupParent, l.id),
    removeBundle(l),
    removeIfThere(`${dirs.exitDir}/${l.id}`),
    removeIfThere(`${dirs.socketDir}/${l.id}`),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Mounts first (nothing is ever deleted through one), then the bundle and writable layer. */
async function removeBundle(l: Leftovers): Promise<void> {
  await unmountUnder(l.bundleDir);
  await Promise.all([removeIfThere(l.bundleDir), removeIfThere(dirname(l.upperDir))]);
}

async function removeIfThere(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Cleanups running at once: two cores here, and requests need the rest. */
const CONCURRENCY = 2;
/** First retry delay; doubled per failure (conmon usually leaves its cgroup within ms). */
const FIRST_RETRY_MS = 25;
const MAX_RETRY_MS = 60_000;
/** Failures after which a cleanup is reported as a warning (and every tenth after). */
const WARN_AFTER = 5;

export interface CleanupQueueDeps {
  store: Store;
  dirs: CleanupDirs;
  log: Logger;
  /** The removal itself (tests replace it). */
  remove?: (dirs: CleanupDirs, l: Leftovers) => Promise<void>;
}

/** A durable, bounded queue of removed containers' leftovers. */
export class CleanupQueue {
  readonly pending: Collection<Leftovers>;
  /** Every cleanup not done yet in this process (queued, running or waiting to retry). */
  private readonly known = new Map<string, Leftovers>();
  /** IDs waiting for a free slot, oldest first. */
  private readonly ready: string[] = [];
  private readonly running = new Set<string>();
  /** Retry timers of cleanups that failed, by container ID. */
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>();
  /** Failures so far of cleanups not done yet, by container ID. */
  private readonly failures = new Map<string, number>();
  /** Callers of drained()/settled(), each with what it waits for. */
  private readonly waiters: { done: () => boolean; resolve: () => void }[] = [];
  private closed = false;
  private pumpScheduled = false;

  constructor(private readonly deps: CleanupQueueDeps) {
    this.pending = deps.store.collection<Leftovers>("container_cleanups");
  }

  /** Leftovers recorded and not removed yet (queued, running or waiting to retry). */
  get size(): number {
    return this.known.size;
  }

  /**
   * Records `l` and runs `inTransaction` (deleting the container's record) in one
   * transaction, then queues the removal.
   */
  add(l: Leftovers, inTransaction: () => void): void {
    this.pending.transaction(() => {
      this.pending.put(l.id, l);
      inTransaction();
    });
    this.enqueue(l);
  }

  /** Queues what an earlier run recorded and did not finish (called at start). */
  resume(): number {
    const left = this.pending.list();
    for (const l of left) this.enqueue(l);
    return left.length;
  }

  /** Resolves once nothing is queued, running or waiting to retry (or the queue closed). */
  drained(): Promise<void> {
    return this.until(() => this.known.size === 0);
  }

  /** Resolves once the leftovers of pod `sandboxId`'s containers are gone (or closed). */
  podSettled(sandboxId: string): Promise<void> {
    return this.until(() => ![...this.known.values()].some((l) => l.sandboxId === sandboxId));
  }

  private until(done: () => boolean): Promise<void> {
    if (done() || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ done, resolve }));
  }

  /**
   * No new cleanups start and retries are dropped; what is recorded stays for the next
   * start. Resolves when the running ones have ended.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    this.ready.length = 0;
    for (const id of this.known.keys()) if (!this.running.has(id)) this.known.delete(id);
    if (this.running.size > 0) {
      await new Promise<void>((resolve) =>
        this.waiters.push({ done: () => this.running.size === 0, resolve })
      );
    }
    this.settleWaiters();
  }

  private enqueue(l: Leftovers): void {
    if (this.closed || this.known.has(l.id)) return;
    this.known.set(l.id, l);
    this.ready.push(l.id);
    this.schedulePump();
  }

  /**
   * Starts queued cleanups on a later turn of the event loop: starting one issues a dozen
   * fs calls (~0.8 ms here), which would otherwise run before the RemoveContainer reply.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setTimeout(() => {
      this.pumpScheduled = false;
      this.pump();
    }, 0);
  }

  private pump(): void {
    while (!this.closed && this.running.size < CONCURRENCY && this.ready.length > 0) {
      const l = this.known.get(this.ready.shift()!)!;
      this.running.add(l.id);
      this.run(l).finally(() => {
        this.running.delete(l.id);
        this.pump();
        this.settleWaiters();
      });
    }
  }

  private async run(l: Leftovers): Promise<void> {
    const remove = this.deps.remove ?? removeLeftovers;
    try {
      await remove(this.deps.dirs, l);
    } catch (err) {
      this.retryLater(l, err);
      return;
    }
    const failures = this.failures.get(l.id) ?? 0;
    this.failures.delete(l.id);
    this.known.delete(l.id);
    if (this.closed) return; // the store may be closed: the next start redoes it (idempotent)
    try {
      this.pending.delete(l.id);
    } catch (err) {
      // Done all the same; the record makes the next start look again (idempotent).
      this.deps.log.warn("container cleanup not recorded as done", {
        id: l.id,
        err: errorMessage(err),
      });
      return;
    }
    if (failures >= WARN_AFTER) {
      this.deps.log.info("container cleanup done", { id: l.id, failures });
    }
  }

  private retryLater(l: Leftovers, err: unknown): void {
    if (this.closed) {
      this.known.delete(l.id);
      return;
    }
    const failures = (this.failures.get(l.id) ?? 0) + 1;
    this.failures.set(l.id, failures);
    const fields = { id: l.id, failures, err: errorMessage(err) };
    // Usually conmon still leaving its cgroup: a warning only when it goes on.
    if (failures === WARN_AFTER || (failures > WARN_AFTER && failures % 10 === 0)) {
      this.deps.log.warn("container cleanup failed; trying again", fields);
    } else this.deps.log.debug("container cleanup failed; trying again", fields);
    const delay = Math.min(FIRST_RETRY_MS * 2 ** (failures - 1), MAX_RETRY_MS);
    this.retries.set(
      l.id,
      setTimeout(() => {
        this.retries.delete(l.id);
        if (this.closed) return;
        this.ready.push(l.id);
        this.schedulePump();
      }, delay),
    );
  }

  private settleWaiters(): void {
    const idle = this.closed && this.running.size === 0;
    for (const w of [...this.waiters]) {
      if (!idle && !w.done()) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}
