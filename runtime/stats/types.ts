/**
 * Resource usage as Skiff's stats readers report it: plain numbers in the units CRI uses,
 * independent of cgroup version. `cri/handlers/stats.ts` turns these into CRI messages.
 *
 * Byte counts are numbers (exact up to 8 PiB); cumulative CPU time is a bigint because a
 * busy node passes 2^53 ns (~104 core-days) well within its lifetime.
 */

/** Pressure stall information for one resource: `some` and (where defined) `full`. */
export interface PsiLine {
  avg10: number;
  avg60: number;
  avg300: number;
  /** Cumulative stall time, nanoseconds (the kernel reports microseconds). */
  totalNs: bigint;
}

export interface Psi {
  some: PsiLine;
  full: PsiLine | null;
}

export interface CpuSample {
  /** Cumulative CPU time of every task in the cgroup, all cores, nanoseconds. */
  usageNs: bigint;
  psi: Psi | null;
}

export interface MemorySample {
  usageBytes: number;
  /** usage − inactive_file, floored at 0: what kubelet evicts on. */
  workingSetBytes: number;
  /** Anonymous memory + swap cache (v1 `total_rss`, v2 `anon`). */
  rssBytes: number;
  pageFaults: number;
  majorPageFaults: number;
  /** The cgroup's memory limit, or null when unlimited. */
  limitBytes: number | null;
  /** limit − working set, or null when unlimited. */
  availableBytes: number | null;
  psi: Psi | null;
}

export interface SwapSample {
  usageBytes: number;
  /** Swap limit, or null when unlimited or not accounted. */
  limitBytes: number | null;
  availableBytes: number | null;
}

export interface CgroupSample {
  /** When the files were read, milliseconds since the epoch. */
  at: number;
  cpu: CpuSample | null;
  memory: MemorySample | null;
  swap: SwapSample | null;
  /** Number of tasks (processes and threads) in the cgroup, from the pids controller. */
  pids: number | null;
  ioPsi: Psi | null;
}

export interface InterfaceCounters {
  name: string;
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

export interface FilesystemSample {
  at: number;
  /** Bytes allocated on disk (st_blocks × 512, as `du` counts), hard links counted once. */
  usedBytes: number;
  /** Inodes used: every file, directory and link under the root, hard links counted once. */
  inodesUsed: number;
}

/** A filesystem's share used by one kind of data (CRI `FilesystemUsage`). */
export interface FilesystemUsageSample extends FilesystemSample {
  /** The path kubelet resolves to a device (CRI `fs_id.mountpoint`). */
  mountpoint: string;
}
