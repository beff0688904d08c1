/**
 * ReopenContainerLog: after kubelet renamed a container's log file (rotation), conmon is told
 * through its control FIFO to reopen the log path, so new lines go to a fresh file. The
 * control message is conmon's "<type> <height> <width>\n" with type 2 (reopen logs), as
 * CRI-O sends it. conmon writes each line to exactly one of the two files: everything before
 * the reopen to the renamed file, everything after to the new one.
 */
import fs from "node:fs";
import { DeadlineExceededError, FailedPreconditionError, InternalError } from "../core/errors.ts";
import type { ContainerStateName } from "./contracts.ts";

export interface LogReopenTarget {
  id: string;
  state: ContainerStateName;
  ctlFifoPath: string;
  logPath: string;
}

const REOPEN_LOGS = 2;

export async function reopenContainerLog(
  target: LogReopenTarget,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<void> {
  if (target.state !== "CONTAINER_RUNNING") {
    throw new FailedPreconditionError(
      `container ${target.id} is ${target.state}, not running; only a running container's log can be reopened`,
    );
  }
  if (!target.logPath) {
    throw new FailedPreconditionError(`container ${target.id} has no log path to reopen`);
  }
  // Non-blocking open: with no reader (conmon gone) it fails with ENXIO instead of hanging.
  let fd: number;
  try {
    fd = fs.openSync(target.ctlFifoPath, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENXIO" || code === "ENOENT") {
      throw new FailedPreconditionError(
        `conmon of container ${target.id} is not listening on ${target.ctlFifoPath} (${code}); ` +
          `the container's monitor is gone, so its log cannot be reopened`,
      );
    }
    throw new InternalError(
      `cannot open conmon's control FIFO ${target.ctlFifoPath} of container ${target.id}: ${err}`,
      { cause: err },
    );
  }
  try {
    fs.writeSync(fd, `${REOPEN_LOGS} 0 0\n`);
  } finally {
    fs.closeSync(fd);
  }
  // Done when conmon has created the log file anew at its path.
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    opts.signal?.throwIfAborted();
    try {
      await Deno.stat(target.logPath);
      return;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new DeadlineExceededError(
    `conmon did not reopen ${target.logPath} for container ${target.id} within ${
      opts.timeoutMs ?? 10_000
    } ms`,
  );
}
