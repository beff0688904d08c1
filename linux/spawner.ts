/**
 * Commands run to completion from a worker thread, not the daemon's main thread. A spawn is
 * a vfork: the spawning thread waits until the child has exec'd, and on a loaded node the
 * child first waits for a CPU (~2.5 ms a spawn under the 200-call mix, 0.3 ms idle). Sixty
 * spawns at once held the main thread for 100–120 ms in one stretch; from a worker, the
 * main thread's 1 ms timer was never more than 7 ms late (docs/benchmarks.md). The worker
 * (5–9 MiB) starts at the first command and ends after a minute without one, or when the
 * node goes quiet after a burst (daemon.ts).
 *
 * If no worker can start, commands run on the calling thread, as before.
 */
import type { Logger } from "../core/log.ts";
import { type CommandResult, type CommandSpec, runCommand } from "./run_command.ts";

export type { CommandResult, CommandSpec } from "./run_command.ts";

export interface SpawnerRequest {
  id: number;
  spec: CommandSpec;
}

export type SpawnerReply =
  | { kind: "ready" }
  | { kind: "started"; id: number; pid: number }
  | { kind: "done"; id: number; result: CommandResult }
  | { kind: "failed"; id: number; name: string; message: string };

interface Pending {
  spec: CommandSpec;
  onStarted: (pid: number) => void;
  resolve: (r: CommandResult) => void;
  reject: (e: Error) => void;
  started: boolean;
}

/** The worker's module: the source's, or the bundle's (scripts/bundle.ts: chunks at its top,
 * this entry under linux/). */
const WORKER_URL = import.meta.url.endsWith(".ts")
  ? new URL("./spawner_worker.ts", import.meta.url)
  : new URL("./linux/spawner_worker.js", import.meta.url);

const IDLE_MS = 60_000;

class Spawner {
  private worker: Worker | null = null;
  private ready = false;
  private unavailable = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  log: Logger | null = null;

  run(spec: CommandSpec, onStarted: (pid: number) => void): Promise<CommandResult> {
    const worker = this.unavailable ? null : this.ensureWorker();
    if (!worker) return runCommand(spec, onStarted);
    clearTimeout(this.idleTimer);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { spec, onStarted, resolve, reject, started: false });
      worker.postMessage({ id, spec } satisfies SpawnerRequest);
    });
  }

  state(): { worker: boolean; ready: boolean; onMainThread: boolean } {
    return { worker: this.worker !== null, ready: this.ready, onMainThread: this.unavailable };
  }

  stopIfIdle(): void {
    if (this.pending.size === 0) this.stop();
  }

  stop(): void {
    clearTimeout(this.idleTimer);
    this.worker?.terminate();
    this.worker = null;
    this.ready = false;
    for (const p of this.pending.values()) p.reject(new Error("the spawner was stopped"));
    this.pending.clear();
  }

  private ensureWorker(): Worker | null {
    if (this.worker) return this.worker;
    try {
      this.worker = new Worker(WORKER_URL, { type: "module" });
    } catch (err) {
      this.giveUp(err);
      return null;
    }
    this.worker.onmessage = (e: MessageEvent<SpawnerReply>) => this.onReply(e.data);
    this.worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.onWorkerError(e.message);
    };
    return this.worker;
  }

  private onReply(m: SpawnerReply): void {
    if (m.kind === "ready") {
      this.ready = true;
      this.log?.debug("spawner worker ready");
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === "started") {
      p.started = true;
      p.onStarted(m.pid);
      return;
    }
    this.pending.delete(m.id);
    if (m.kind === "done") p.resolve(m.result);
    else p.reject(rebuildError(m.name, m.message));
    if (this.pending.size === 0) this.armIdle();
  }

  /**
   * A worker that never got ready cannot run anything: its commands run here instead, and
   * so does every later one. One that broke later fails the commands it had started (they
   * may have run) and runs the others here; the next command starts a new worker.
   */
  private onWorkerError(message: string): void {
    const wasReady = this.ready;
    this.worker?.terminate();
    this.worker = null;
    this.ready = false;
    if (!wasReady) this.giveUp(new Error(message));
    else this.log?.error("the spawner's worker failed; starting another", { error: message });
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      if (p.started) p.reject(new Error(`the spawner's worker failed: ${message}`));
      else runCommand(p.spec, p.onStarted).then(p.resolve, p.reject);
    }
  }

  private giveUp(err: unknown): void {
    this.unavailable = true;
    this.log?.warn("no spawner worker: commands are spawned from the main thread", {
      error: err instanceof Error ? err.message : String(err),
    });
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    const timer = setTimeout(() => this.stopIfIdle(), IDLE_MS);
    Deno.unrefTimer(timer);
    this.idleTimer = timer;
  }
}

/** The error the worker threw, as the same class when it is one of Deno's. */
function rebuildError(name: string, message: string): Error {
  const errors = Deno.errors as unknown as Record<string, (new (m: string) => Error) | undefined>;
  const Cls = errors[name];
  const err = Cls ? new Cls(message) : new Error(message);
  if (!Cls) err.name = name;
  return err;
}

const spawner = new Spawner();

/**
 * Runs a command to completion off the main thread; `onStarted` gets its PID as soon as it
 * exists (a timeout or cancel kills it by PID).
 */
export function runToCompletion(
  spec: CommandSpec,
  onStarted: (pid: number) => void = () => {},
): Promise<CommandResult> {
  return spawner.run(spec, onStarted);
}

/** Where the spawner logs (its worker's failures). */
export function setSpawnerLogger(log: Logger): void {
  spawner.log = log;
}

/** Whether a worker is up (and has loaded), or commands run on the main thread. */
export function spawnerState(): { worker: boolean; ready: boolean; onMainThread: boolean } {
  return spawner.state();
}

/** Ends the worker if it has nothing to run (the node went quiet: core/memory.ts). */
export function stopSpawnerIfIdle(): void {
  spawner.stopIfIdle();
}

/** Ends the worker (daemon stop, tests); a later command starts a new one. */
export function stopSpawner(): void {
  spawner.stop();
}
