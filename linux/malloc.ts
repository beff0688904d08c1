/**
 * Gives freed heap memory back to the system. glibc's malloc keeps what was freed for
 * reuse: after a burst of work (pods created and removed, a flood of connections) tens of
 * MiB stay resident although nothing uses them. malloc_trim(3) releases the free pages.
 */
import { cpuUsage } from "node:process";
import { libc } from "./libc.ts";

export function trimFreeMemory(): void {
  libc().malloc_trim(0n);
}

export interface QuietTrimOptions {
  /** How often the process's CPU time is looked at. */
  checkMs?: number;
  /** CPU time (all threads) since the last trim that makes a trim worth it. */
  workMs?: number;
  /** At most this share of one CPU over the last check counts as quiet. */
  quietShare?: number;
  /** Called after each trim (a test's or a log's hook). */
  onTrim?: () => void;
}

/**
 * Trims once the process goes quiet after work. Measured (bench/compare.ts footprint: 200
 * pods created and removed, then the 200-call mix): the daemon's RSS stays ~30 MiB above
 * what it needs until a trim. A busy process reuses its free memory, so trimming then would
 * only cost page faults; an idle one never frees it on its own. Returns a stop function.
 */
export function trimWhenQuiet(opts: QuietTrimOptions = {}): () => void {
  const checkMs = opts.checkMs ?? 2000;
  const workUs = (opts.workMs ?? 500) * 1000;
  const quietUs = checkMs * 1000 * (opts.quietShare ?? 0.1);
  let last = cpuMicros();
  let sinceTrim = 0;
  const timer = setInterval(() => {
    const now = cpuMicros();
    const busy = now - last;
    last = now;
    sinceTrim += busy;
    if (busy > quietUs || sinceTrim < workUs) return;
    trimFreeMemory();
    // The trim's own CPU time is not work to trim after.
    last = cpuMicros();
    sinceTrim = 0;
    opts.onTrim?.();
  }, checkMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}

/** User + system CPU time of the whole process (every thread), in microseconds. */
function cpuMicros(): number {
  const u = cpuUsage();
  return u.user + u.system;
}
