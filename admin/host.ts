/** The node's own CPU and memory, for the dashboard's charts and the node summary. */

export interface HostSample {
  /** Milliseconds since the epoch. */
  at: number;
  cpus: number;
  /** Busy share of all CPUs since the previous sample, 0..1 (null on the first sample). */
  cpuBusy: number | null;
  load: number[];
  memoryTotalBytes: number;
  memoryAvailableBytes: number;
  uptimeSeconds: number;
}

interface CpuTimes {
  busy: number;
  total: number;
}

async function readCpuTimes(): Promise<CpuTimes | null> {
  try {
    const first = (await Deno.readTextFile("/proc/stat")).split("\n")[0];
    const nums = first.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const total = nums.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (nums[3] ?? 0) + (nums[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Samples the host; CPU busy is measured between consecutive calls of one sampler. */
export class HostSampler {
  private last: CpuTimes | null = null;

  async sample(): Promise<HostSample> {
    const cpu = await readCpuTimes();
    let cpuBusy: number | null = null;
    if (cpu && this.last && cpu.total > this.last.total) {
      cpuBusy = (cpu.busy - this.last.busy) / (cpu.total - this.last.total);
    }
    if (cpu) this.last = cpu;
    const mem = Deno.systemMemoryInfo();
    return {
      at: Date.now(),
      cpus: navigator.hardwareConcurrency,
      cpuBusy,
      load: Deno.loadavg(),
      memoryTotalBytes: mem.total,
      memoryAvailableBytes: mem.available,
      uptimeSeconds: Deno.osUptime(),
    };
  }
}
