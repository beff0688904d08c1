/**
 * Serializes operations on one key (a container or sandbox ID) while letting operations on
 * other keys run. A failed operation does not poison the key: the next one runs anyway.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    // The stored tail never rejects, so a waiter's failure is not reported twice.
    const tail = next.catch(() => {});
    this.tails.set(key, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Keys with an operation queued or running (for tests and diagnostics). */
  get size(): number {
    return this.tails.size;
  }
}
