/**
 * Gives memory back to the system. glibc's malloc keeps what was freed for reuse: after a
 * burst of work (pods created and removed, a flood of connections) tens of MiB stay
 * resident although nothing uses them. malloc_trim(3) releases the free pages.
 * (When to call it: core/memory.ts.)
 */
import { libc } from "./libc.ts";

export function trimFreeMemory(): void {
  libc().malloc_trim(0n);
}

const MADV_DONTNEED = 4;

/** One mapping of /proc/self/smaps: where it is, what backs it and what of it is resident. */
interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
  anonymousKb: number;
  rssKb: number;
}

/** The mappings of this process's smaps (sync: called while the node is quiet, ~1 ms). */
export function selfMappings(smaps = Deno.readTextFileSync("/proc/self/smaps")): Mapping[] {
  const out: Mapping[] = [];
  let cur: Mapping | null = null;
  for (const line of smaps.split("\n")) {
    const head = line.match(/^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/);
    if (head) {
      cur = {
        start: BigInt(`0x${head[1]}`),
        end: BigInt(`0x${head[2]}`),
        perms: head[3],
        path: head[4],
        anonymousKb: 0,
        rssKb: 0,
      };
      out.push(cur);
      continue;
    }
    const field = line.match(/^(Rss|Anonymous):\s+(\d+) kB/);
    if (!field || !cur) continue;
    if (field[1] === "Rss") cur.rssKb = Number(field[2]);
    else cur.anonymousKb = Number(field[2]);
  }
  return out;
}

/**
 * The executable's read-only mappings whose every page still equals the file: no copy-on-
 * write page, which smaps counts as Anonymous (relocated data made read-only afterwards has
 * some and is never touched). Not Private_Dirty: it also counts page-cache pages not yet
 * written back (a binary installed a moment ago), which are the file's and safe to unmap.
 */
export function cleanExecutableMappings(mappings: Mapping[], exe: string): Mapping[] {
  return mappings.filter((m) =>
    m.path === exe && !m.perms.includes("w") && m.perms.endsWith("p") &&
    m.anonymousKb === 0 && m.rssKb > 0
  );
}

/**
 * Drops this process's resident pages of its own executable that equal the file: start-up
 * code and the runtime's start-up snapshots, read once and kept mapped for good. Pages still
 * in use fault back in from the page cache (a minor fault each). Returns the KiB dropped.
 */
export function dropCleanExecutablePages(): number {
  let mappings: Mapping[];
  try {
    mappings = selfMappings();
  } catch {
    return 0; // no descriptor free to read smaps with (a flood): the next release drops them
  }
  const exe = Deno.execPath();
  let dropped = 0;
  for (const m of cleanExecutableMappings(mappings, exe)) {
    const ptr = Deno.UnsafePointer.create(m.start);
    if (libc().madvise(ptr, m.end - m.start, MADV_DONTNEED) === 0) dropped += m.rssKb;
  }
  return dropped;
}
