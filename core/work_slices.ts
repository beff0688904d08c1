/**
 * Long synchronous work cut into slices of the event loop: after each slice the caller
 * waits for one real turn of the loop, so Deno polls its sockets and every CRI call gets
 * served in between. A microtask or `setImmediate` is no such turn (both run before the loop
 * polls again); a `setTimeout(0)` is, but costs ~2.2 ms (tokio's timer granularity); the
 * cheapest is an operation on Deno's blocking pool, ~0.05 ms (measured: a TCP client pinging
 * every ms was answered in 2 ms at the median through 2 ms slices).
 *
 * Made for layer unpacking: the applier's file operations are synchronous (each entry is
 * several syscalls, and on this machine's disk a create or a symlink takes 0.3–0.8 ms), and
 * a pull of a layer of 3,000 small files held every call for ~2 s (docs/benchmarks.md).
 */
export class WorkSlices {
  private end: number;

  constructor(private readonly sliceMs = 4) {
    this.end = performance.now() + sliceMs;
  }

  /** When the current slice ends (a `performance.now()` time): stop at the next safe point. */
  get deadline(): number {
    return this.end;
  }

  /** Waits for the next turn of the event loop if the slice is used up. */
  async yieldIfDue(): Promise<void> {
    if (performance.now() >= this.end) await this.yield();
  }

  /** Waits for the next turn of the event loop and starts a new slice. */
  async yield(): Promise<void> {
    // Any async op would do; this one reads a cached dentry and changes nothing.
    await Deno.realPath("/");
    this.end = performance.now() + this.sliceMs;
  }
}

/**
 * The slices of the daemon's one event loop, shared by all such work: six layers unpacking
 * at once each with slices of their own would run back to back between two polls.
 */
export const loopSlices = new WorkSlices(2);
