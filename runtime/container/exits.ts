/**
 * How containers end: conmon's exit file read and recorded (settle), a lost conmon noticed,
 * waiting for an exit, and freeing the runtime's state of an exited container (reap).
 */
import { errorMessage } from "../../core/errors.ts";
import { isAlive } from "../../linux/processes.ts";
import type { ContainerRecord } from "./record.ts";
import type { ContainerContext } from "./service.ts";
import { hasExited, isLive, phaseOf, transition } from "./state.ts";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a lingering conmon may hold up reporting an exit (it drains the log meanwhile). */
const LOG_DRAIN_MS = 2000;

interface ExitFile {
  text: string;
  mtime: number;
}

function readExitFile(persistDir: string): ExitFile | null {
  try {
    const text = Deno.readTextFileSync(`${persistDir}/exit`).trim();
    return { text, mtime: Deno.statSync(`${persistDir}/exit`).mtime?.getTime() ?? Date.now() };
  } catch {
    return null;
  }
}

function oomKilled(persistDir: string): boolean {
  try {
    Deno.statSync(`${persistDir}/oom`);
    return true;
  } catch {
    return false;
  }
}

/**
 * If a live container's conmon has written its exit file, records how it ended.
 * Returns whether the container has exited.
 */
export function settleExit(ctx: ContainerContext, rec: ContainerRecord): boolean {
  if (hasExited(rec)) return true;
  // UNKNOWN: running without its conmon (see monitorLost); its process may end meanwhile.
  if (!isLive(rec)) return false;
  const persist = `${rec.bundleDir}/persist`;
  let exit = readExitFile(persist);
  if (!exit) {
    // conmon writes the exit file before it exits: with conmon gone, one more look tells
    // whether one will ever come.
    if (rec.conmonPid <= 0 || isAlive(rec.conmonPid)) return false;
    exit = readExitFile(persist);
    if (!exit) return monitorLost(ctx, rec);
  }
  const { text, mtime } = exit;
  if (!/^-?\d+$/.test(text)) return false; // being written; look again later
  // conmon writes the exit file and then drains the last output into the log: report the
  // exit once conmon is gone, so that whoever reads the log after seeing EXITED (kubelet's
  // termination message from the log) gets all of it. Bounded, in case conmon lingers.
  if (isAlive(rec.conmonPid) && Date.now() - mtime < LOG_DRAIN_MS) return false;
  const code = Number(text);
  const reason = oomKilled(persist) ? "OOMKilled" : code === 0 ? "Completed" : "Error";
  markExited(ctx, rec, code, reason, "", Math.max(mtime, rec.startedAt));
  // Free the runtime's state (cgroup, runc dir) without holding the caller up.
  if (!ctx.closed) reap(ctx, rec);
  return true;
}

/**
 * conmon died (SIGKILLed, OOM-killed) without writing an exit file: nobody records this
 * container's exit code or writes its log any more. If its process has ended too it is
 * EXITED with an unknown code; if it still runs it is UNKNOWN with the reason (as CRI-O
 * reports a dead conmon) until StopContainer kills it. Returns whether it has exited.
 */
function monitorLost(ctx: ContainerContext, rec: ContainerRecord): boolean {
  if (!isAlive(rec.pid)) {
    markExited(
      ctx,
      rec,
      255,
      "Error",
      `conmon (pid ${rec.conmonPid}) ended without recording an exit code`,
      Date.now(),
    );
    if (!ctx.closed) reap(ctx, rec);
    return true;
  }
  if (phaseOf(rec) !== "unknown") {
    transition(rec, "unknown");
    rec.reason = "ConmonExited";
    rec.message = `conmon (pid ${rec.conmonPid}) died while the container (pid ${rec.pid}) ` +
      `runs: its exit code and log can no longer be recorded; stop the container`;
    ctx.save(rec);
    ctx.log.warn("container lost its conmon", { id: rec.id, conmonPid: rec.conmonPid });
  }
  return false;
}

/**
 * Records how a container ended; CONTAINER_STOPPED_EVENT when it was live (a container
 * that never started ends without one).
 */
export function markExited(
  ctx: ContainerContext,
  rec: ContainerRecord,
  code: number,
  reason: string,
  message: string,
  at: number,
): void {
  const wasLive = isLive(rec);
  transition(rec, "exited");
  rec.exitCode = code;
  rec.reason = reason;
  rec.message = message;
  rec.finishedAt = at;
  if (ctx.cache.has(rec.id)) ctx.save(rec);
  if (!wasLive) return;
  if (reason === "OOMKilled") ctx.metrics.oomKilled();
  ctx.publish("CONTAINER_STOPPED_EVENT", rec);
}

/** Waits up to `ms` for a live container to exit; whether it did. */
export async function waitForExit(
  ctx: ContainerContext,
  rec: ContainerRecord,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  let delay = 5;
  while (true) {
    if (settleExit(ctx, rec)) return true;
    if (!isAlive(rec.conmonPid) && !isAlive(rec.pid)) {
      // conmon writes the exit file just before it exits; look once more.
      if (settleExit(ctx, rec)) return true;
      markExited(ctx, rec, 255, "Error", "conmon ended without recording an exit code", Date.now());
      return true;
    }
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    delay = Math.min(delay * 2, 100);
  }
}

/** Frees the runtime's state of an exited container (its cgroup, runc state dir). */
export function reap(ctx: ContainerContext, rec: ContainerRecord): Promise<void> {
  const pending = ctx.reaps.get(rec.id);
  if (pending) return pending;
  const done = ctx.runtimeFor(rec).delete(rec.id).then(
    () => {
      ctx.reaped.add(rec.id);
    },
    (err) => ctx.log.warn("runtime delete failed", { id: rec.id, err: errorMessage(err) }),
  ).finally(() => ctx.reaps.delete(rec.id));
  ctx.reaps.set(rec.id, done);
  return done;
}
