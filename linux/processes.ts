/** Processes of this host, from /proc. */

let bootIdCache: string | undefined;

/** This kernel boot's ID: PIDs recorded under another boot mean nothing. "" if unknown. */
export function bootId(): string {
  bootIdCache ??= (() => {
    try {
      return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    } catch {
      return "";
    }
  })();
  return bootIdCache;
}

/** The state letter of a /proc/<pid>/stat text (after the command name, which may hold spaces). */
export function statState(stat: string): string {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
}

/** Whether process `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    return runsPerStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** isAlive off the event loop (for sweeps over many processes). */
export async function isAliveAsync(pid: number): Promise<boolean> {
  if (pid <= 0) return false;
  try {
    return runsPerStat(await Deno.readTextFile(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
}

/** A /proc/<pid>/stat text of a process that is neither a zombie nor dead. */
function runsPerStat(stat: string): boolean {
  const state = statState(stat);
  return state !== "Z" && state !== "X";
}

export interface ProcessMatch {
  /** The process's command name must be this (/proc/<pid>/comm), if given. */
  comm?: string;
  /** Its command line must contain this. */
  cmdlineIncludes: string;
}

/** PIDs of the processes (other than this one) that match; those that exit meanwhile are left out. */
export function findProcesses(match: ProcessMatch): number[] {
  const out: number[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync("/proc")];
  } catch {
    return out; // no /proc
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
    try {
      if (match.comm && Deno.readTextFileSync(`/proc/${e.name}/comm`).trim() !== match.comm) {
        continue;
      }
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      if (cmdline.includes(match.cmdlineIncludes)) out.push(Number(e.name));
    } catch { /* exited while we looked */ }
  }
  return out;
}
