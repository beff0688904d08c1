/**
 * Reading CRI container log files (what conmon writes and kubelet rotates):
 * `2016-10-06T00:17:09.669794202Z stdout F text`, `P` marking a partial line.
 * Tail, since and follow. Follow survives rotation: kubelet renames the file and asks the
 * runtime to reopen it, so when the path's inode changes the follower drains the old file
 * and continues from the start of the new one; a file truncated in place is read again
 * from its start.
 *
 * Used by the admin API (`/containers/:id/logs`) and the CLI (`skiff logs`), which like
 * crictl read the file at ContainerStatus.log_path directly.
 */

export interface CriLogEntry {
  /** RFC 3339 timestamp with nanoseconds, as written. */
  time: string;
  stream: "stdout" | "stderr";
  /** True for a `P` (partial) record: the line continues in the next record. */
  partial: boolean;
  log: string;
}

const LINE = /^(\S+) (stdout|stderr) (\S+) ?(.*)$/s;

export function parseCriLogLine(line: string): CriLogEntry | null {
  const m = LINE.exec(line);
  if (!m) return null;
  return {
    time: m[1],
    stream: m[2] as "stdout" | "stderr",
    partial: m[3].split(":")[0] === "P",
    log: m[4],
  };
}

/** Milliseconds since the epoch of a CRI log timestamp (nanoseconds dropped). */
export function entryTimeMs(e: CriLogEntry): number {
  return Date.parse(e.time);
}

/**
 * `since`: an RFC 3339 time, or a duration back from now such as `90s`, `5m`, `2h`, `1d`.
 * Returns milliseconds since the epoch, or null for an invalid value.
 */
export function parseSince(value: string, now = Date.now()): number | null {
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (rel) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2]]!;
    return now - Number(rel[1]) * unit;
  }
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

export interface ReadLogOptions {
  /** Only the last N lines (after `since`); undefined = all. */
  tail?: number;
  /** Only entries at or after this time (ms since the epoch). */
  sinceMs?: number;
}

const CHUNK = 64 * 1024;

/**
 * The log's current content (tail/since applied) and the byte offset where it ends, from
 * which a follower continues. Reads backwards for `tail`, so a large file costs only the
 * bytes the tail needs.
 */
export async function readLog(
  path: string,
  opts: ReadLogOptions = {},
): Promise<{ entries: CriLogEntry[]; offset: number; ino: number | null }> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { entries: [], offset: 0, ino: null };
    throw err;
  }
  try {
    const info = await file.stat();
    const size = info.size;
    let start = size;
    let buf = new Uint8Array(0);
    const want = opts.tail;
    // Walk back until the buffer holds `tail` complete lines (+1 for a partial first line).
    while (start > 0) {
      if (want !== undefined && countNewlines(buf) > want) break;
      const from = Math.max(0, start - CHUNK);
      const chunk = new Uint8Array(start - from);
      await file.seek(from, Deno.SeekMode.Start);
      await readFull(file, chunk);
      const joined = new Uint8Array(chunk.length + buf.length);
      joined.set(chunk);
      joined.set(buf, chunk.length);
      buf = joined;
      start = from;
    }
    // Only complete lines; a half-written last line is left for the follower.
    const lastNl = buf.lastIndexOf(10);
    const consumed = lastNl + 1;
    const text = lastNl < 0 ? "" : new TextDecoder().decode(buf.subarray(0, lastNl));
    let lines = text === "" ? [] : text.split("\n");
    if (start > 0 && lines.length > 0) lines = lines.slice(1); // cut mid-line at the chunk edge
    let entries = lines.map(parseCriLogLine).filter((e): e is CriLogEntry => e !== null);
    if (opts.sinceMs !== undefined) {
      const since = opts.sinceMs;
      entries = entries.filter((e) => entryTimeMs(e) >= since);
    }
    if (want !== undefined) entries = want === 0 ? [] : entries.slice(-want);
    return { entries, offset: start + consumed, ino: info.ino ?? null };
  } finally {
    file.close();
  }
}

function countNewlines(b: Uint8Array): number {
  let n = 0;
  for (const x of b) if (x === 10) n++;
  return n;
}

async function readFull(file: Deno.FsFile, into: Uint8Array): Promise<void> {
  let off = 0;
  while (off < into.length) {
    const n = await file.read(into.subarray(off));
    if (n === null) break;
    off += n;
  }
}

export interface FollowOptions {
  /** Byte offset to start at in the file currently at `path` (from readLog). */
  offset: number;
  /** Inode that offset belongs to (from readLog); a different file starts at 0. */
  ino: number | null;
  signal: AbortSignal;
  pollMs?: number;
  /** Only entries at or after this time. */
  sinceMs?: number;
}

/** New entries as they are written, until `signal` aborts. */
export async function* followLog(path: string, opts: FollowOptions): AsyncGenerator<CriLogEntry> {
  const pollMs = opts.pollMs ?? 200;
  let file: Deno.FsFile | null = null;
  let ino: number | null = null;
  let offset = 0;
  let pending = "";
  const decoder = new TextDecoder();
  const buf = new Uint8Array(CHUNK);

  const open = async (startAt: number | "matching") => {
    try {
      const f = await Deno.open(path, { read: true });
      const st = await f.stat();
      file = f;
      ino = st.ino ?? null;
      offset = startAt === "matching" ? (ino === opts.ino ? opts.offset : 0) : startAt;
      await f.seek(offset, Deno.SeekMode.Start);
      pending = "";
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return false;
      throw err;
    }
  };

  /** Reads what is there now from the open file, yielding complete lines. */
  async function* drain(): AsyncGenerator<CriLogEntry> {
    while (file) {
      const n = await (file as Deno.FsFile).read(buf);
      if (n === null || n === 0) return;
      offset += n;
      pending += decoder.decode(buf.subarray(0, n), { stream: true });
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const e = parseCriLogLine(line);
        if (e && (opts.sinceMs === undefined || entryTimeMs(e) >= opts.sinceMs)) yield e;
      }
    }
  }

  const sleep = () =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, pollMs);
      function done() {
        clearTimeout(t);
        opts.signal.removeEventListener("abort", done);
        resolve();
      }
      opts.signal.addEventListener("abort", done, { once: true });
    });

  try {
    await open("matching");
    while (!opts.signal.aborted) {
      if (file) yield* drain();
      if (opts.signal.aborted) break;
      // Rotated (new inode at the path), or truncated in place?
      let st: Deno.FileInfo | null = null;
      try {
        st = await Deno.stat(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
      if (st && file && (st.ino ?? null) !== ino) {
        yield* drain(); // the last lines written to the old file before the reopen
        (file as Deno.FsFile).close();
        file = null;
        await open(0);
        continue;
      }
      if (st && !file) {
        await open(0);
        continue;
      }
      if (st && file && st.size < offset) {
        await (file as Deno.FsFile).seek(0, Deno.SeekMode.Start);
        offset = 0;
        pending = "";
        continue;
      }
      await sleep();
    }
  } finally {
    (file as Deno.FsFile | null)?.close();
  }
}

/** One entry as text, as `kubectl logs` prints it (optionally with its timestamp). */
export function formatEntry(e: CriLogEntry, timestamps: boolean): string {
  return (timestamps ? `${e.time} ` : "") + e.log + (e.partial ? "" : "\n");
}
