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
  /** The last rate computed per key, answered again inside the minimum window. */
  private readonly lastRate = new Map<string, bigint | null>();

  /**
   * @param minWindowMs samples closer than this to the kept one are not used (two callers
   *   polling a moment apart would otherwise see a rate over a few milliseconds).
   */
  constructor(private readonly minWindowMs = 0) {}

  /**
   * Records a sample and returns the rate in nano-cores (core-nanoseconds per second) since
   * the previous one; null on the first sample (no window yet) or when the counter went
   * backwards (the cgroup was recreated); "too-soon" when inside the minimum window (the
   * kept sample stays, so the caller reuses its last rate).
   */
  observe(key: string, usageNs: bigint, atMs: number): bigint | null | "too-soon" {
    const atNs = BigInt(Math.round(atMs * 1e6));
    const prev = this.last.get(key);
    if (prev && this.minWindowMs > 0 && atNs - prev.atNs < BigInt(this.minWindowMs * 1e6)) {
      return "too-soon";
    }
    this.last.set(key, { usageNs, atNs });
    if (!prev) return null;
    const dt = atNs - prev.atNs;
    const du = usageNs - prev.usageNs;
    if (dt <= 0n || du < 0n) return null;
    return (du * 1_000_000_000n) / dt;
  }

  /** Like observe, but inside the minimum window the last rate computed is answered. */
  rate(key: string, usageNs: bigint, atMs: number): bigint | null {
    const r = this.observe(key, usageNs, atMs);
    if (r === "too-soon") return this.lastRate.get(key) ?? null;
    this.lastRate.set(key, r);
    return r;
  }

  /** The last rate's inputs are dropped when the object goes away. */
  forget(key: string): void {
    this.last.delete(key);
    this.lastRate.delete(key);
  }

  /** Drops every key whose id (after the `x:` prefix, if any) is not in `live`. */
  retain(live: Set<string>): void {
    for (const k of this.last.keys()) {
      const id = k.includes(":") ? k.slice(k.indexOf(":") + 1) : k;
      if (!live.has(id)) this.forget(k);
    }
  }

  get size(): number {
    return this.last.size;
  }
}
