/**
 * Recovery at Skiff's start: containers are reloaded from the store, exits that happened
 * while Skiff was away are settled, half-made containers and interrupted starts undone.
 */
import { errorMessage } from "../../core/errors.ts";
import { bootId, findProcesses, isAlive } from "../../linux/processes.ts";
import { markExited, settleExit, sleep } from "./exits.ts";
import type { ContainerRecord } from "./record.ts";
import { destroyContainer } from "./remove.ts";
import type { ContainerContext } from "./service.ts";
import { phaseOf } from "./state.ts";

export async function recoverContainers(ctx: ContainerContext): Promise<void> {
  await Deno.mkdir(ctx.exitDir, { recursive: true, mode: 0o700 });
  await Deno.mkdir(ctx.socketDir, { recursive: true, mode: 0o700 });
  for (const rec of ctx.records.list()) {
    switch (phaseOf(rec)) {
      case "creating":
        ctx.log.warn("cleaning container left half-created by a crash", { id: rec.id });
        await destroyContainer(ctx, rec).catch((err) =>
          ctx.log.error("cleanup failed", { id: rec.id, err: errorMessage(err) })
        );
        continue;
      case "running":
        ctx.remember(rec);
        settleWhileAway(ctx, rec);
        break;
      case "created":
        ctx.remember(rec);
        // A start interrupted by a crash may have left conmon's launcher or conmon itself
        // behind, and a runtime container.
        await killInterruptedStart(rec.bundleDir);
        await ctx.runtimeFor(rec).delete(rec.id).catch(() => {});
        break;
      default:
        ctx.remember(rec);
    }
  }
  ctx.log.info("containers recovered", { count: ctx.cache.size });
}

/** A container that was running when Skiff went away: did it end meanwhile? */
function settleWhileAway(ctx: ContainerContext, rec: ContainerRecord): void {
  if (rec.bootId && rec.bootId !== bootId()) {
    markExited(ctx, rec, 255, "Unknown", "the node rebooted while it was running", Date.now());
  } else if (!settleExit(ctx, rec) && !isAlive(rec.conmonPid) && !isAlive(rec.pid)) {
    markExited(
      ctx,
      rec,
      255,
      "Unknown",
      "conmon and the container vanished while Skiff was down",
      Date.now(),
    );
  }
}

/**
 * Kills what a StartContainer cut short by a crash left running: conmon's launcher blocked
 * forever opening its FIFOs (Skiff died before opening the other ends), or conmon that saw
 * its start pipe close and goes on to `runc create`. Their FIFOs still exist only then
 * (a finished start removes them), so the /proc scan runs only after such a crash.
 */
async function killInterruptedStart(bundleDir: string): Promise<void> {
  const fifos = [`${bundleDir}/conmon-sync`, `${bundleDir}/conmon-start`];
  const exists = (p: string) => {
    try {
      Deno.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (!fifos.some(exists)) return;
  for (let pass = 0; pass < 3; pass++) {
    let killed = 0;
    for (const pid of findProcesses({ cmdlineIncludes: bundleDir })) {
      try {
        Deno.kill(pid, "SIGKILL");
        killed++;
      } catch { /* gone meanwhile */ }
    }
    if (killed === 0) break;
    await sleep(50);
  }
  for (const f of fifos) await Deno.remove(f).catch(() => {});
}
