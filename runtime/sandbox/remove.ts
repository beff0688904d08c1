/**
 * RemovePodSandbox, and the undo every other verb relies on: whatever a record says
 * exists is taken down, then the record is forgotten.
 */
import { errorMessage, InternalError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { unmountAll } from "../../linux/mounts.ts";
import { unpinNamespaces } from "../../network/netns.ts";
import type { SandboxContext } from "./context.ts";
import { stopInfra } from "./infra.ts";
import type { SandboxRecord } from "./records.ts";
import { eventsFor } from "./state.ts";

const log = logger("sandbox");

/** Idempotent: stops if needed, removes containers, unpins namespaces, deletes all. */
export async function removeSandbox(ctx: SandboxContext, idOrPrefix: string): Promise<void> {
  const found = ctx.records.find(idOrPrefix);
  if (!found) return;
  await ctx.lock.run(found.id, async () => {
    const rec = ctx.records.get(found.id);
    if (!rec) return;
    const from = rec.phase;
    await ctx.podContainers().removePodContainers(rec.id);
    await destroySandbox(ctx, rec);
    log.info("pod sandbox removed", { id: rec.id, pod: `${rec.namespace}/${rec.name}` });
    ctx.publish(rec.id, eventsFor(from, "removed"));
  });
}

/**
 * Undoes everything a record says exists, then forgets it. Every step is tried; when one
 * fails the record is kept (so a later remove or the next start retries) and this throws.
 * The caller holds the sandbox's lock (or is start-up recovery, before anyone else runs).
 */
export async function destroySandbox(ctx: SandboxContext, rec: SandboxRecord): Promise<void> {
  const errors: string[] = [];
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${errorMessage(err)}`);
    }
  };
  if (rec.infra) await step("infra process", () => stopInfra(rec.infra!));
  await step("network", async () => {
    if (await ctx.network.detach(rec)) ctx.records.save(rec);
  });
  if (rec.shmPath) await step("/dev/shm", () => unmountAll(rec.shmPath!));
  await step("namespaces", () => unpinNamespaces(rec.ns));
  await step("files", () =>
    Deno.remove(rec.dir, { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }));
  if (errors.length) {
    ctx.records.save(rec);
    throw new InternalError(
      `pod sandbox ${rec.id} could not be fully removed (retry RemovePodSandbox): ${
        errors.join("; ")
      }`,
    );
  }
  ctx.records.forget(rec);
}
