/**
 * CPU rate from successive cumulative samples, kept per object (container or pod), as
 * containerd and CRI-O compute `usage_nano_cores`: the CPU time used between the previous
 * sample and this one, divided by the wall time between them.
 */

interface Previous {
  usageNs: bigint;
  atNs: bigint;
}

export class CpuRateTracker {
  private readonly last = new Map<string, Previous>();

  /**
   * Records a sample and returns the rate in nano-cores (core-nanoseconds per second) since
   * the previous one, or null on the first sample (no window yet) or when the counter went
   * backwards (the cgroup was recreated).
   */
  observe(key: string, usageNs: bigint, atMs: number): bigint | null {
    const atNs = BigInt(Math.round(atMs * 1e6));
    const prev = this.last.get(key);
    this.last.set(key, { usageNs, atNs });
    if (!prev) return null;
    const dt = atNs - prev.atNs;
    const du = usageNs - prev.usageNs;
    if (dt <= 0n || du < 0n) return null;
    return (du * 1_000_000_000n) / dt;
  }

  /** The last rate's inputs are dropped when the object goes away. */
  forget(key: string): void {
    this.last.delete(key);
  }

  /** Drops every key not in `live` (objects removed without a `forget`). */
  retain(live: Set<string>): void {
    for (const k of this.last.keys()) if (!live.has(k)) this.last.delete(k);
  }

  get size(): number {
    return this.last.size;
  }
}
