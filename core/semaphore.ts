/**
 * A counting semaphore: at most `limit` holders at once, the rest wait in FIFO order. Used
 * to bound bursts of process spawns (ExecSync) so that they queue behind their own limit
 * instead of saturating the CPU in front of every other call.
 */
export class Semaphore {
  private held = 0;
  private readonly waiting: { grant: () => void; signal?: AbortSignal; onAbort: () => void }[] = [];

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`semaphore limit must be ≥ 1, not ${limit}`);
  }

  /** Holders now, and callers waiting. */
  get stats(): { held: number; waiting: number } {
    return { held: this.held, waiting: this.waiting.length };
  }

  /**
   * Runs `fn` once a slot is free. An aborted `signal` while waiting rejects with its
   * reason and gives the place up.
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const entry = {
        signal,
        grant: () => {
          signal?.removeEventListener("abort", entry.onAbort);
          resolve();
        },
        onAbort: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal!.reason);
        },
      };
      signal?.addEventListener("abort", entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    // The slot passes straight to the next waiter: `held` stays the same.
    if (next) next.grant();
    else this.held--;
  }
}
