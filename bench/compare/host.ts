/**
 * Host-side helpers for the side-by-side bench: running commands (argv only), memory of a
 * process from /proc/<pid>/smaps_rollup, removal of a bridge with its iptables rules and of
 * a cgroup subtree, and the machine's description kept with the results.
 */
import { splitRule } from "../../tests/helpers/teardown.ts";
import { hostCgroupMounts, hostCgroupVersion } from "../../linux/cgroup.ts";

export async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  } catch {
    return { code: -1, stdout: "" };
  }
}

export interface ProcessMemory {
  rssKiB: number;
  pssKiB: number;
}

/** RSS and PSS of one process (zeros when it is gone or unreadable). */
export function processMemory(pid: number): ProcessMemory {
  let text = "";
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
  } catch {
    return { rssKiB: 0, pssKiB: 0 };
  }
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKiB: field("Rss"), pssKiB: field("Pss") };
}

/** Summed PSS of several processes, in KiB. */
export function totalPssKiB(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processMemory(pid).pssKiB, 0);
}

/** All descendants of `pid` (children, their children, …), from /proc/<pid>/stat. */
export function descendantPids(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
    } catch {
      continue;
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; split after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(e.name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Deletes a bridge and every iptables rule naming it or its subnet (and their CNI chains). */
export async function teardownBridge(bridgeName: string, subnet: string): Promise<void> {
  await run(["ip", "link", "del", bridgeName]);
  const prefix = subnet.split("/")[0].replace(/\.0$/, ".");
  for (const table of ["nat", "filter"]) {
    const rules = (await run(["iptables", "-w", "-t", table, "-S"])).stdout.split("\n");
    const chains = new Set<string>();
    for (const r of rules) {
      if (!r.startsWith("-A ")) continue;
      if (!r.includes(prefix) && !r.includes(bridgeName)) continue;
      const argv = splitRule(r.slice(3));
      const jump = argv[argv.indexOf("-j") + 1];
      if (jump?.startsWith("CNI-") && !jump.startsWith("CNI-HOSTPORT")) chains.add(jump);
      await run(["iptables", "-w", "-t", table, "-D", ...argv]);
    }
    for (const c of chains) {
      await run(["iptables", "-w", "-t", table, "-F", c]);
      await run(["iptables", "-w", "-t", table, "-X", c]);
    }
  }
}

/** Removes a cgroup (v1: in every mounted hierarchy; v2: the one tree), children first. */
export async function removeCgroup(path: string): Promise<void> {
  const roots: string[] = [];
  try {
    for (const e of Deno.readDirSync("/sys/fs/cgroup")) {
      if (e.isDirectory) roots.push(`/sys/fs/cgroup/${e.name}`);
    }
  } catch {
    return;
  }
  roots.push("/sys/fs/cgroup");
  const rmdirDeep = async (dir: string): Promise<void> => {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.isDirectory) await rmdirDeep(`${dir}/${e.name}`);
      await Deno.remove(dir);
    } catch {
      // absent, or still has tasks (reported by the caller's leak check, not here)
    }
  };
  for (const r of roots) await rmdirDeep(`${r}${path}`);
}

export interface MachineDescription {
  date: string;
  uname: string;
  cpuModel: string;
  cpus: number;
  memTotalMiB: number;
  deno: string;
  containerd: string;
  runc: string;
  conmon: string;
  cgroup: string;
  /** 1/5/15-minute load averages when the bench started (other work on the machine). */
  loadAverageAtStart: string;
}

export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

export async function describeMachine(): Promise<MachineDescription> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const first = async (argv: string[]) => (await run(argv)).stdout.split("\n")[0].trim();
  const cgroups = hostCgroupMounts();
  return {
    date: new Date().toISOString(),
    uname: await first(["uname", "-a"]),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: (cpuinfo.match(/^processor\s*:/gm) ?? []).length,
    memTotalMiB: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024),
    deno: `deno ${Deno.version.deno}`,
    containerd: await first(["containerd", "--version"]),
    runc: await first(["runc", "--version"]),
    conmon: await first(["conmon", "--version"]),
    cgroup: hostCgroupVersion(cgroups) === 2 ? "v2" : cgroups.v2 ? "v1 (hybrid)" : "v1",
    loadAverageAtStart: loadAverage(),
  };
}
