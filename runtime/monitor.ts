/**
 * conmon, the per-container monitor: it owns the container's stdio, writes the CRI log,
 * records the exit code (and OOM kills), serves attach, and outlives Skiff.
 *
 * conmon wants a sync pipe (fd 3, it reports the container's PID there) and a start pipe
 * (fd 4, it waits for a byte before creating the container). Deno.Command cannot pass
 * extra fds, so both are FIFOs that a tiny fixed shell script opens in a fixed order
 * before exec'ing conmon; every path reaches the script as a positional argument, never
 * spliced into the script text.
 */
import { InternalError } from "../core/errors.ts";
import { mkfifoSync } from "../linux/fifo.ts";
import { newSessionCommand } from "../linux/session.ts";

/**
 * Closes every inherited fd above 2 (Skiff's own sockets and pipes are not all
 * close-on-exec, and conmon would otherwise hold them, e.g. the CRI socket, for the life of
 * the container), then opens fd 3 (sync, write) and fd 4 (start, read), sends conmon's
 * output to the log file ($3), and becomes conmon. bash, because dash cannot name fds > 9;
 * the only text spliced into `exec` is an fd number that was checked to be all digits.
 */
const LAUNCH_SCRIPT = 'sync="$1"; start="$2"; log="$3"; shift 3; ' +
  'for fd in /proc/self/fd/*; do n="${fd##*/}"; case "$n" in ""|*[!0-9]*) continue;; esac; ' +
  '[ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null; done; ' +
  'exec "$@" 3>"$sync" 4<"$start" >>"$log" 2>&1 </dev/null';

export interface ConmonOptions {
  conmon: string;
  id: string;
  name: string;
  bundle: string;
  /** CRI log file conmon writes. */
  logPath: string;
  exitDir: string;
  persistDir: string;
  socketDir: string;
  runtimeBinary: string;
  /** Global runtime arguments (--root, --log, …), passed through with --runtime-arg. */
  runtimeArgs: string[];
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  systemdCgroup: boolean;
  /** conmon's own stdout/stderr. */
  conmonLog: string;
  pidFile: string;
  conmonPidFile: string;
  /**
   * Called with conmon's PID as soon as its launcher is spawned (the PID stays the same
   * through the launcher's exec of conmon), e.g. to move it into the pod's cgroup; runs
   * while the launcher starts and opens the FIFOs, and is awaited before the start pipe
   * lets conmon fork anything. Errors abort the start.
   */
  beforeStart?: (conmonPid: number) => Promise<void>;
  /** How long runtime create may take. */
  timeoutMs?: number;
}

export interface ConmonStarted {
  /** Host PID of the container's init process. */
  pid: number;
  conmonPid: number;
}

/** Synchronous calls here and below: tiny local fs calls, cheaper than thread-pool hops. */
export function mkfifo(path: string): void {
  removeIfThere(path);
  try {
    mkfifoSync(path, 0o600);
  } catch (err) {
    throw new InternalError((err as Error).message);
  }
}

export function conmonArgs(o: ConmonOptions): string[] {
  const args = [
    "--api-version",
    "1",
    "-b",
    o.bundle,
    "-c",
    o.id,
    "-u",
    o.id,
    "-n",
    o.name,
    "-r",
    o.runtimeBinary,
    "-l",
    `k8s-file:${o.logPath}`,
    "--exit-dir",
    o.exitDir,
    "--persist-dir",
    o.persistDir,
    "--socket-dir-path",
    o.socketDir,
    "-p",
    o.pidFile,
    "-P",
    o.conmonPidFile,
    "--log-level",
    "info",
  ];
  for (const a of o.runtimeArgs) args.push("--runtime-arg", a);
  if (o.systemdCgroup) args.push("-s");
  if (o.terminal) args.push("-t");
  else if (o.stdin) {
    args.push("-i");
    if (!o.stdinOnce) args.push("--leave-stdin-open");
  }
  return args;
}

/** The messages conmon writes on the sync pipe. */
interface SyncMessage {
  data: number;
  message?: string;
}

/** Parses the first complete JSON object of the sync pipe output, if there is one yet. */
export function parseSyncMessage(text: string): SyncMessage | null {
  const start = text.indexOf("{");
  if (start < 0) return null;
  const end = text.indexOf("}", start);
  if (end < 0) return null;
  try {
    return JSON.parse(text.slice(start, end + 1)) as SyncMessage;
  } catch {
    return null;
  }
}

async function readWithTimeout(
  file: Deno.FsFile,
  ms: number,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + ms;
  while (true) {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new InternalError("timed out waiting for conmon to report the container PID");
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const n = await Promise.race([
      file.read(buf),
      new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), left)),
    ]).finally(() => clearTimeout(timer));
    if (n === "timeout") {
      throw new InternalError("timed out waiting for conmon to report the container PID");
    }
    if (n === null) return text;
    text += decoder.decode(buf.subarray(0, n), { stream: true });
    if (parseSyncMessage(text)) return text;
  }
}

/**
 * Starts conmon, which runs `<runtime> create`; resolves with the container's PID once
 * conmon reports it, or throws with the runtime's error.
 */
export async function startConmon(o: ConmonOptions): Promise<ConmonStarted> {
  const syncFifo = `${o.bundle}/conmon-sync`;
  const startFifo = `${o.bundle}/conmon-start`;
  mkfifo(syncFifo);
  mkfifo(startFifo);
  // Its own session: conmon and the container survive Skiff being killed (through
  // setsid(1): `detached` would fork the whole daemon, see linux/session.ts).
  const session = newSessionCommand("/bin/bash", [
    "-c",
    LAUNCH_SCRIPT,
    "conmon-launch",
    syncFifo,
    startFifo,
    o.conmonLog,
    o.conmon,
    ...conmonArgs(o),
  ]);
  const child = new Deno.Command(session.program, {
    args: session.args,
    cwd: o.bundle,
    env: { _OCI_SYNCPIPE: "3", _OCI_STARTPIPE: "4" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: session.detached,
  }).spawn();
  let sync: Deno.FsFile | undefined;
  let start: Deno.FsFile | undefined;
  const placed = o.beforeStart?.(child.pid) ?? Promise.resolve();
  placed.catch(() => {}); // awaited below; a launcher that fails first is the error reported
  try {
    // Opening a FIFO blocks until the other side opens it: the same order as the script.
    // If the shell dies first, the opens never complete; the race below catches that.
    const exited = child.status.then((s) => s);
    const opened = (async () => {
      sync = await Deno.open(syncFifo, { read: true });
      start = await Deno.open(startFifo, { write: true });
    })();
    const first = await Promise.race([opened.then(() => "opened" as const), exited]);
    if (first !== "opened") {
      // Unblock the pending opens so that no thread stays stuck on a FIFO.
      await unblockFifos(syncFifo, startFifo);
      await opened.catch(() => {});
      throw new InternalError(
        `conmon exited before it started (code ${first.code}): ${await tail(o.conmonLog)}`,
      );
    }
    // conmon blocks on the start pipe before it forks anything: placed by then.
    await placed;
    await start!.write(new Uint8Array([0]));
    start!.close();
    start = undefined;
    const text = await readWithTimeout(sync!, o.timeoutMs ?? 60000);
    const msg = parseSyncMessage(text);
    if (!msg) {
      throw new InternalError(
        `conmon ended without reporting a container PID: ${await tail(o.conmonLog)}`,
      );
    }
    if (msg.data <= 0) {
      throw new InternalError(
        (msg.message ?? "").trim() ||
          `the OCI runtime failed to create the container (${msg.data})`,
      );
    }
    const conmonPid = Number(readIfThere(o.conmonPidFile).trim() || "0");
    return { pid: msg.data, conmonPid };
  } finally {
    try {
      sync?.close();
    } catch { /* already closed */ }
    try {
      start?.close();
    } catch { /* already closed */ }
    // conmon's first process exits once it has forked its monitor: reap it (no zombie).
    await child.status;
    await placed.catch(() => {});
    removeIfThere(syncFifo);
    removeIfThere(startFifo);
  }
}

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* not there */ }
}

function readIfThere(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

async function unblockFifos(...paths: string[]): Promise<void> {
  // Opening the other end read-write never blocks and completes any pending open.
  for (const p of paths) {
    try {
      const f = await Deno.open(p, { read: true, write: true });
      f.close();
    } catch { /* gone */ }
  }
}

async function tail(path: string, lines = 5): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.trim().split("\n").slice(-lines).join("; ") || "(conmon wrote nothing)";
}
