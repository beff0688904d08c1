/**
 * Start-up: sandboxes a crash left half-made are undone, the others' namespaces and infra
 * processes rechecked (a ready pod that lost any goes not-ready), leftovers no record owns
 * removed, and the CNI attachments of ready pods CHECKed in the background.
 */
import { errorMessage } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { isMounted, unmountAll } from "../../linux/mounts.ts";
import { isPinned, unpinNamespaces } from "../../network/netns.ts";
import type { SandboxContext } from "./context.ts";
import { findLabelledInfra, infraAlive } from "./infra.ts";
import type { SandboxRecord } from "./records.ts";
import { destroySandbox } from "./remove.ts";

const log = logger("sandbox");

/** Recovers every record; returns how many ready sandboxes own a CNI attachment. */
export async function recoverSandboxes(ctx: SandboxContext): Promise<number> {
  for (const rec of ctx.records.all()) {
    if (rec.phase === "creating") {
      log.warn("cleaning up a pod sandbox whose creation was interrupted", { id: rec.id });
      await destroySandbox(ctx, rec).catch((e) =>
        log.error("cleanup of interrupted pod sandbox failed", {
          id: rec.id,
          error: errorMessage(e),
        })
      );
      continue;
    }
    ctx.records.indexName(rec);
    if (rec.phase === "ready") await recheck(ctx, rec);
  }
  await removeOrphans(ctx);
  const networked = ctx.records.views().filter((r) => r.phase === "ready" && r.networkAttached);
  log.info("pod sandboxes recovered", {
    total: ctx.records.count(),
    networked: networked.length,
  });
  return networked.length;
}

/**
 * CNI CHECK of the recovered attachments, meant to run in the background: start-up does
 * not wait for plugins, and a failed CHECK is reported, not acted on (kubelet decides).
 * Never rejects.
 */
export function checkRecoveredNetworks(ctx: SandboxContext, networked: number): Promise<void> {
  if (!networked) return Promise.resolve();
  return checkNetworks(ctx).then((failed) =>
    log.info("CNI CHECK of recovered pod sandboxes done", {
      checked: networked,
      failed: failed.length,
    })
  ).catch((err) =>
    log.warn("CNI CHECK of recovered pod sandboxes stopped", { error: errorMessage(err) })
  );
}

/** A ready sandbox that lost parts while Skiff was down is marked not ready (no event). */
async function recheck(ctx: SandboxContext, rec: SandboxRecord): Promise<void> {
  const lost: string[] = [];
  for (const p of [rec.ns.net, rec.ns.ipc, rec.ns.uts, rec.ns.user ?? null]) {
    if (p && !await isPinned(p)) lost.push(p);
  }
  if (rec.shmPath && !await isMounted(rec.shmPath)) lost.push(rec.shmPath);
  if (rec.infra && !infraAlive(rec.infra)) lost.push(`infra process ${rec.infra.pid}`);
  if (!lost.length) return;
  log.warn("pod sandbox lost parts while Skiff was down; marking it not ready", {
    id: rec.id,
    lost: lost.join(","),
  });
  ctx.records.transition(rec, "notready");
}

/** CNI CHECK of every ready sandbox's attachment; returns the IDs that failed. */
export async function checkNetworks(ctx: SandboxContext): Promise<string[]> {
  const failed: string[] = [];
  for (const rec of ctx.records.all()) {
    if (rec.phase !== "ready" || !rec.networkAttached || !rec.network) continue;
    try {
      await ctx.lock.run(rec.id, () => ctx.network.check(rec));
    } catch (err) {
      failed.push(rec.id);
      log.warn("CNI CHECK failed", { id: rec.id, error: errorMessage(err) });
    }
  }
  return failed;
}

async function removeOrphans(ctx: SandboxContext): Promise<void> {
  const records = ctx.records.views();
  killOrphanInfra(ctx, records);
  const known = new Set(records.map((r) => r.id));
  for (const dir of [ctx.sandboxesDir, ctx.nsDir]) {
    let entries: Deno.DirEntry[] = [];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const e of entries) {
      const id = e.name.split("-")[0];
      if (known.has(id)) continue;
      const path = `${dir}/${e.name}`;
      log.warn("removing a pod sandbox leftover no record owns", { path });
      try {
        if (dir === ctx.nsDir) {
          await unpinNamespaces({ net: path, ipc: null, uts: null });
        } else {
          await unmountAll(`${path}/shm`);
          await Deno.remove(path, { recursive: true });
        }
      } catch (err) {
        log.error("cannot remove leftover", { path, error: errorMessage(err) });
      }
    }
  }
}

/**
 * Infra processes whose sandbox no longer counts on them (never recorded because of a
 * crash, or their sandbox is gone): found by label, killed.
 */
function killOrphanInfra(ctx: SandboxContext, records: SandboxRecord[]): void {
  const liveInfra = new Set(
    records.filter((r) => r.infra && infraAlive(r.infra)).map((r) => r.id),
  );
  for (const p of findLabelledInfra(ctx.config.state_dir)) {
    if (liveInfra.has(p.sandboxId)) continue;
    log.warn("killing an infra process no sandbox owns", { pid: p.pid, id: p.sandboxId });
    try {
      Deno.kill(p.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }
}
