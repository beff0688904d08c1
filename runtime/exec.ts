/**
 * Commands in running containers: `ExecSync` (probes, crictl exec -s) and streamed exec
 * (kubectl exec), both through `<runtime> exec` of the container's OCI runtime.
 *
 * `runc exec` with a command copies the container's process spec (env, cwd, user,
 * capabilities) and runs the command in its namespaces and cgroup, in the foreground:
 * its exit code is the command's. `--pid-file` tells us the command's host PID so that a
 * timeout or a vanished client kills the command itself (SIGKILL to `runc exec` would not
 * reach it). TTY sessions run `runc exec --tty` on a pty Skiff allocates, as its stdio and
 * controlling terminal (as CRI-O does): a resize is an ioctl on the master, the kernel
 * sends runc SIGWINCH, and runc resizes the container's own terminal.
 */
import { concatBytes } from "../core/bytes.ts";
import {
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
} from "../core/errors.ts";
import type { CommandStreams } from "./contracts.ts";
import type { ContainerForStreaming } from "./contracts.ts";
import { Pty } from "../linux/pty.ts";
import { Semaphore } from "../core/semaphore.ts";

/**
 * ExecSyncs running at once; more wait their turn. Each `runc exec` is a burst of CPU (runc,
 * runc init, the command): forty at once (kubelet probes on a busy node) left the daemon's
 * own thread one runnable thread among dozens, and every other call waited for the batch.
 */
export const EXEC_SYNC_CONCURRENCY = Math.max(2, 2 * (navigator.hardwareConcurrency || 1));
const execSyncSlots = new Semaphore(EXEC_SYNC_CONCURRENCY);

/**
 * Cap on ExecSync's stdout and stderr together. CRI-O caps exec-sync output at 16 MiB
 * (`maxExecSyncSize`, conmon's `--log-global-size-max`), which is also gRPC's default
 * message limit, so a reply carrying a full 16 MiB cannot be sent at all. Skiff keeps 64 KiB
 * below it for the reply's framing: output past the cap is read and dropped, and the reply
 * carries what was kept with the command's real exit code.
 */
export const EXEC_SYNC_OUTPUT_LIMIT = 16 * 1024 * 1024 - 64 * 1024;

/**
 * Limits on an exec's command (ExecSync and Exec), checked before anything runs: the kernel
 * refuses an argument over 128 KiB (MAX_ARG_STRLEN) and all of them past ARG_MAX (2 MiB
 * with the default stack, shared with the environment), failing late and obscurely
 * ("Argument list too long"); probes and `kubectl exec` need far less.
 */
export const EXEC_COMMAND_LIMITS = {
  maxArgs: 4096,
  maxArgBytes: 128 * 1024 - 1,
  maxTotalBytes: 256 * 1024,
} as const;

/** Refuses a command past EXEC_COMMAND_LIMITS or with a NUL byte (execve cannot pass one). */
export function validateExecCommand(cmd: readonly string[]): void {
  if (!cmd.length || !cmd[0]) throw new InvalidArgumentError("exec needs a command (cmd is empty)");
  const { maxArgs, maxArgBytes, maxTotalBytes } = EXEC_COMMAND_LIMITS;
  if (cmd.length > maxArgs) {
    throw new InvalidArgumentError(
      `cmd has ${cmd.length} arguments; at most ${maxArgs} are allowed`,
    );
  }
  const encoder = new TextEncoder();
  let total = 0;
  for (const [i, arg] of cmd.entries()) {
    const bytes = encoder.encode(arg).length;
    if (bytes > maxArgBytes) {
      throw new InvalidArgumentError(
        `cmd argument ${i} is ${bytes} bytes; at most ${maxArgBytes} bytes per argument are allowed`,
      );
    }
    if (arg.includes("\0")) {
      throw new InvalidArgumentError(`cmd argument ${i} contains a NUL byte`);
    }
    total += bytes + 1;
  }
  if (total > maxTotalBytes) {
    throw new InvalidArgumentError(
      `cmd is ${total} bytes in all; at most ${maxTotalBytes} bytes are allowed`,
    );
  }
}

export interface ExecSyncResult {
  stdout: Uint8Array;
  stderr: Uint8Array;
  exitCode: number;
}

/** Where an exec runs: the OCI runtime and how to reach the container with it. */
export function runtimeExecArgv(
  c: ContainerForStreaming,
  cmd: string[],
  pidFile: string,
  tty = false,
): string[] {
  validateExecCommand(cmd);
  return [
    c.runtimeBinary,
    "--root",
    c.runtimeRoot,
    ...c.runtimeOptions,
    "exec",
    "--pid-file",
    pidFile,
    // With --tty, runc gives the command a terminal of its own and relays it to runc's
    // stdio (Skiff's pty); runc follows SIGWINCH on that pty to resize the inner one.
    ...(tty ? ["--tty"] : []),
    c.id,
    ...cmd,
  ];
}

export function requireRunning(c: ContainerForStreaming | undefined, id: string) {
  if (!c) throw new FailedPreconditionError(`container ${id} not found; check its ID`);
  if (c.state !== "CONTAINER_RUNNING") {
    throw new FailedPreconditionError(
      `container ${id} is not running (state ${c.state}); exec needs a running container`,
    );
  }
  return c;
}

/**
 * Reads a stream fully, keeping what fits in `budget` (shared by stdout and stderr, taken
 * as the bytes arrive); the rest is drained and dropped.
 */
async function collect(
  stream: ReadableStream<Uint8Array>,
  budget: { left: number },
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let kept = 0;
  for await (const chunk of stream) {
    if (budget.left <= 0) continue;
    const part = chunk.subarray(0, budget.left);
    parts.push(part);
    kept += part.length;
    budget.left -= part.length;
  }
  return concatBytes(parts);
}

async function killFromPidFile(pidFile: string, fallback: Deno.ChildProcess): Promise<void> {
  try {
    const pid = Number((await Deno.readTextFile(pidFile)).trim());
    if (pid > 0) {
      Deno.kill(pid, "SIGKILL");
      return;
    }
  } catch {
    // Not started yet (no PID file) or already gone.
  }
  try {
    fallback.kill("SIGKILL");
  } catch { /* already exited */ }
}

/**
 * A PID file for one exec, in the container's bundle directory (under Skiff's state dir,
 * removed with the container): one file to delete afterwards, not a temp dir to make and
 * remove recursively on every probe.
 */
async function withPidFile<T>(
  c: ContainerForStreaming,
  fn: (pidFile: string) => Promise<T>,
): Promise<T> {
  const suffix = crypto.getRandomValues(new Uint8Array(8)).reduce(
    (s, b) => s + b.toString(16).padStart(2, "0"),
    "",
  );
  const pidFile = `${c.bundleDir}/exec-${suffix}.pid`;
  try {
    return await fn(pidFile);
  } finally {
    await Deno.remove(pidFile).catch(() => {});
  }
}

/**
 * Runs a command to completion and returns its output. `timeoutMs` 0 = no timeout; on
 * expiry the command is killed and a DeadlineExceededError thrown. At most
 * EXEC_SYNC_CONCURRENCY run at once; the timeout counts from the command's start.
 */
export function execSync(
  c: ContainerForStreaming,
  cmd: string[],
  timeoutMs: number,
  opts: { outputLimit?: number; signal?: AbortSignal } = {},
): Promise<ExecSyncResult> {
  validateExecCommand(cmd);
  return execSyncSlots.run(() => execSyncNow(c, cmd, timeoutMs, opts), opts.signal);
}

function execSyncNow(
  c: ContainerForStreaming,
  cmd: string[],
  timeoutMs: number,
  opts: { outputLimit?: number; signal?: AbortSignal },
): Promise<ExecSyncResult> {
  const budget = { left: opts.outputLimit ?? EXEC_SYNC_OUTPUT_LIMIT };
  return withPidFile(c, async (pidFile) => {
    const [bin, ...args] = runtimeExecArgv(c, cmd, pidFile);
    const child = new Deno.Command(bin, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let timedOut = false;
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        timedOut = true;
        killFromPidFile(pidFile, child);
      }, timeoutMs)
      : undefined;
    // The caller went away (gRPC cancel or deadline): the command must not outlive it.
    const onAbort = () => killFromPidFile(pidFile, child);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const [stdout, stderr, status] = await Promise.all([
        collect(child.stdout, budget),
        collect(child.stderr, budget),
        child.status,
      ]);
      if (timedOut) {
        throw new DeadlineExceededError(
          `command ${JSON.stringify(cmd)} in container ${c.id} timed out after ` +
            `${timeoutMs / 1000}s and was killed`,
        );
      }
      return { stdout, stderr, exitCode: status.code };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  });
}

/** A process whose stdio is piped: the driver behind non-TTY exec. */
export async function runPiped(
  argv: string[],
  streams: CommandStreams,
  signal: AbortSignal,
  kill: (child: Deno.ChildProcess) => Promise<void> | void,
): Promise<number> {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: streams.stdin ? "piped" : "null",
    stdout: streams.stdout ? "piped" : "null",
    stderr: streams.stderr ? "piped" : "null",
  }).spawn();
  const onAbort = () => kill(child);
  signal.addEventListener("abort", onAbort, { once: true });
  const stopInput = new AbortController();
  try {
    if (streams.stdin) {
      // Ends with the client's half-close (stdin_once) or when the process exits.
      streams.stdin.pipeTo(child.stdin, { signal: stopInput.signal }).catch(() => {
        child.stdin.close().catch(() => {});
      });
    }
    const outputs = [
      streams.stdout ? child.stdout.pipeTo(streams.stdout) : null,
      streams.stderr ? child.stderr.pipeTo(streams.stderr) : null,
    ].map((p) =>
      p?.catch(async () => {
        // The client stopped reading: the command must not block on a full pipe forever.
        await kill(child);
      })
    );
    const [status] = await Promise.all([child.status, ...outputs]);
    return status.code;
  } finally {
    stopInput.abort();
    signal.removeEventListener("abort", onAbort);
    streams.resize?.cancel().catch(() => {});
  }
}

/**
 * A process on a new pty: stdout carries the terminal's output, stdin its input, resize
 * events become TIOCSWINSZ. The process gets the pty as its controlling terminal.
 */
export async function runOnPty(
  argv: string[],
  streams: CommandStreams,
  signal: AbortSignal,
  kill: (child: Deno.ChildProcess) => Promise<void> | void,
): Promise<number> {
  const pty = Pty.open();
  let child: Deno.ChildProcess;
  try {
    // The script is constant; the pty path and argv are positional parameters.
    child = new Deno.Command("sh", {
      args: ["-c", 'exec setsid -c "$@" <"$0" >"$0" 2>&1', pty.slavePath, ...argv],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (err) {
    pty.close();
    throw new InternalError(`cannot start ${argv[0]} on a terminal: ${err}`, { cause: err });
  }
  const exited = new AbortController();
  const onAbort = () => kill(child);
  signal.addEventListener("abort", onAbort, { once: true });
  const stopInput = new AbortController();
  const resizing = streams.resize?.pipeTo(
    new WritableStream({ write: (size) => pty.resize(size) }),
    { signal: stopInput.signal },
  ).catch(() => {});
  const input = streams.stdin?.pipeTo(pty.input(), { signal: stopInput.signal }).then(
    // stdin_once: the client's half-close is the terminal's end of input (Ctrl-D).
    () => pty.input().getWriter().write(new Uint8Array([4])),
  ).catch(() => {});
  const output = streams.stdout
    ? pty.output(exited.signal).pipeTo(streams.stdout).catch(() => kill(child))
    : pty.output(exited.signal).pipeTo(new WritableStream()).catch(() => {});
  try {
    const status = await child.status;
    exited.abort();
    pty.releaseSlave();
    await output;
    return status.code;
  } finally {
    signal.removeEventListener("abort", onAbort);
    stopInput.abort();
    streams.resize?.cancel().catch(() => {});
    pty.close();
    await Promise.all([resizing, input]);
  }
}

/** kubectl exec: runs `cmd` in the container, streaming; resolves with its exit code. */
export function execStreaming(
  c: ContainerForStreaming,
  cmd: string[],
  tty: boolean,
  streams: CommandStreams,
  signal: AbortSignal,
): Promise<number> {
  return withPidFile(c, (pidFile) => {
    const argv = runtimeExecArgv(c, cmd, pidFile, tty);
    const kill = (child: Deno.ChildProcess) => killFromPidFile(pidFile, child);
    return tty ? runOnPty(argv, streams, signal, kill) : runPiped(argv, streams, signal, kill);
  });
}
