/**
 * StopContainer: the stop signal, then SIGKILL once the grace has passed (at once for a
 * grace of 0). Idempotent, as CRI requires and containerd does: stopping a container that is
 * not live, or one that is unknown or already removed, succeeds (kubelet retries stops).
 */
import { InternalError, NotFoundError } from "../../core/errors.ts";
import { reap, settleExit, waitForExit } from "./exits.ts";
import type { ContainerRecord } from "./record.ts";
import type { ContainerContext } from "./service.ts";
import { canStop, isLive } from "./state.ts";

/** How long a SIGKILLed container may take to go before StopContainer gives up. */
const KILL_WAIT_MS = 30_000;
/** How long to wait for an exit when the stop signal found nothing to signal. */
const UNSIGNALLED_WAIT_MS = 2000;

export async function stopContainer(
  ctx: ContainerContext,
  idOrPrefix: string,
  timeoutSeconds: number,
): Promise<void> {
  let rec: ContainerRecord;
  try {
    rec = ctx.resolve(idOrPrefix);
  } catch (e) {
    // An empty ID or an ambiguous prefix is still the client's error.
    if (e instanceof NotFoundError) return;
    throw e;
  }
  await ctx.locks.run(rec.id, () => stopLocked(ctx, rec.id, timeoutSeconds));
}

/** Stops container `id` while holding its lock. */
export async function stopLocked(
  ctx: ContainerContext,
  id: string,
  timeoutSeconds: number,
): Promise<void> {
  const rec = ctx.cache.get(id);
  if (!rec) return;
  settleExit(ctx, rec);
  // UNKNOWN is a container that runs without its conmon: it is stopped all the same.
  if (!canStop(rec)) return;
  const runtime = ctx.runtimeFor(rec);
  if (timeoutSeconds > 0 && rec.stopSignal !== "SIGKILL" && rec.stopSignal !== "9") {
    const sent = await runtime.kill(id, rec.stopSignal);
    if (sent && await waitForExit(ctx, rec, timeoutSeconds * 1000)) return reap(ctx, rec);
    if (!sent) await waitForExit(ctx, rec, UNSIGNALLED_WAIT_MS);
  }
  if (isLive(rec)) {
    await runtime.kill(id, "SIGKILL", !ownsPidNamespace(rec));
    if (!await waitForExit(ctx, rec, KILL_WAIT_MS)) {
      throw new InternalError(
        `container ${id} did not exit 30 s after SIGKILL (pid ${rec.pid}); it may be stuck in the kernel (D state)`,
      );
    }
  }
  await reap(ctx, rec);
}

/** Whether the container's init is the only reaper of its processes (own PID ns). */
function ownsPidNamespace(rec: ContainerRecord): boolean {
  try {
    const spec = JSON.parse(Deno.readTextFileSync(`${rec.bundleDir}/config.json`)) as {
      linux?: { namespaces?: { type: string; path?: string }[] };
    };
    return !!spec.linux?.namespaces?.some((n) => n.type === "pid" && !n.path);
  } catch {
    return true;
  }
}
