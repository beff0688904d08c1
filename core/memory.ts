/**
 * Gives memory back once the process goes quiet after work. A busy process reuses what it
 * freed; an idle one keeps it resident for good: garbage in V8's heap until the next
 * major GC, and freed malloc memory (glibc keeps it for reuse). Measured (bench/compare.ts
 * footprint: 200 pods created and removed after the 200-call mix): the daemon's RSS stayed
 * 30-60 MiB above what it needs. When quiet, one full GC (when V8 exposes `gc`: the daemon
 * runs with --expose-gc, core/v8_flags.ts) then malloc_trim(3) return it, and the pages
 * of the deno executable that only start-up read (its snapshots, start-up code: ~23 of its
 * ~45 resident MiB) are dropped; what the node's calls still use faults back in.
 */
import { cpuUsage } from "node:process";
import { dropCleanExecutablePages, trimFreeMemory } from "../linux/malloc.ts";

export interface QuietReleaseOptions {
  /** How often the process's CPU time is looked at. */
  checkMs?: number;
  /** A check with at least this share of one CPU (all threads) was work: a burst. */
  busyShare?: number;
  /** A check with at most this share of one CPU is quiet. */
  quietShare?: number;
  /** The work before the call (start-up: modules, recovery) counts: the first quiet check releases. */
  startUpWasWork?: boolean;
  /** Called after each release (a test's or a log's hook): its duration, and the KiB of
   * the executable's pages it dropped. */
  onRelease?: (ms: number, executableKib: number) => void;
}

type GcOptions = { type: "major"; execution: "sync"; flavor: "regular" | "last-resort" };
type Gc = (options?: GcOptions) => void;

/**
 * Starts watching; returns a stop function. Only a burst counts as work: kubelet's steady
 * polling (a few % of a CPU) never triggers a release, which costs a 50-90 ms GC pause.
 */
export function releaseMemoryWhenQuiet(opts: QuietReleaseOptions = {}): () => void {
  const checkMs = opts.checkMs ?? 2000;
  const busyUs = checkMs * 1000 * (opts.busyShare ?? 0.25);
  const quietUs = checkMs * 1000 * (opts.quietShare ?? 0.1);
  let last = cpuMicros();
  let lastAt = performance.now();
  let worked = opts.startUpWasWork ?? false;
  const timer = setInterval(() => {
    // A check that comes right after a late one (a blocked loop) measures nothing.
    if (performance.now() - lastAt < checkMs / 2) return;
    const used = cpuMicros() - last;
    if (used >= busyUs) worked = true;
    if (worked && used <= quietUs) {
      const started = performance.now();
      const executableKib = releaseMemory();
      worked = false;
      opts.onRelease?.(performance.now() - started, executableKib);
    }
    // The release's own CPU time is not work to release after.
    last = cpuMicros();
    lastAt = performance.now();
  }, checkMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}

/**
 * A full GC that also gives V8's free pages back (if V8 exposes `gc`; a regular major GC
 * keeps them: measured, RSS ~12 MiB higher after the footprint load), then the free malloc
 * pages, then the executable's clean pages (linux/malloc.ts). Returns the KiB of the last.
 */
export function releaseMemory(): number {
  const gc = (globalThis as { gc?: Gc }).gc;
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
  trimFreeMemory();
  return dropCleanExecutablePages();
}

/** User + system CPU time of the whole process (every thread), in microseconds. */
function cpuMicros(): number {
  const u = cpuUsage();
  return u.user + u.system;
}
