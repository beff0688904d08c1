/**
 * StartContainer: conmon is started on the bundle (it runs `runc create` and keeps the
 * container's stdio, log and exit code), then `runc start` lets the process run. A start
 * that fails leaves the container EXITED with StartError, as containerd does.
 */
import { dirname } from "node:path";
import { errorMessage, FailedPreconditionError } from "../../core/errors.ts";
import { bootId } from "../../linux/processes.ts";
import type { SandboxForContainer } from "../contracts.ts";
import { startConmon } from "../monitor.ts";
import type { OciRuntime } from "../oci.ts";
import { isMounted, mountRootfs, rootfsIdmapFor } from "../rootfs.ts";
import { placeConmon } from "./conmon_cgroups.ts";
import { markExited, settleExit } from "./exits.ts";
import type { ContainerRecord } from "./record.ts";
import type { ContainerContext } from "./service.ts";
import { resolveBinary } from "../binaries.ts";
import { canStart, transition } from "./state.ts";
import { startFailure } from "./start_errors.ts";

/** Exit code CRI reports for a container that could not be started (as containerd). */
export const START_ERROR_EXIT_CODE = 128;

export async function startContainer(ctx: ContainerContext, idOrPrefix: string): Promise<void> {
  const t0 = performance.now();
  const id = ctx.resolve(idOrPrefix).id;
  await ctx.locks.run(id, async () => {
    const rec = ctx.resolve(id);
    if (!canStart(rec)) {
      throw new FailedPreconditionError(
        `container ${id} is ${rec.state}, not CONTAINER_CREATED; only a created container can be started`,
      );
    }
    const sandbox = ctx.deps.sandboxes.getSandbox(rec.sandboxId);
    if (!sandbox || sandbox.state !== "SANDBOX_READY") {
      throw new FailedPreconditionError(
        `pod sandbox ${rec.sandboxId} of container ${id} is not ready; cannot start the container`,
      );
    }
    const runtime = ctx.runtimeFor(rec);
    try {
      await launch(ctx, rec, sandbox, runtime);
    } catch (err) {
      const failure = startFailure(id, errorMessage(err), {
        rootfs: `${rec.bundleDir}/rootfs`,
        bundleDir: rec.bundleDir,
        stateDir: ctx.config.state_dir,
        rootDir: ctx.config.root_dir,
      });
      ctx.log.warn("container start failed", { id, error: errorMessage(err) });
      await runtime.delete(id).catch(() => {});
      markExited(ctx, rec, START_ERROR_EXIT_CODE, "StartError", failure.message, Date.now());
      rec.pid = 0;
      ctx.save(rec);
      throw failure;
    }
    transition(rec, "running");
    ctx.save(rec);
    ctx.publish("CONTAINER_STARTED_EVENT", rec);
    ctx.metrics.started((performance.now() - t0) / 1000);
    ctx.log.info("container started", { id, pid: rec.pid });
    // A process that ended at once may already have an exit file.
    settleExit(ctx, rec);
  });
}

/** conmon + `runc create`, then `runc start`; records the PIDs and the start time. */
async function launch(
  ctx: ContainerContext,
  rec: ContainerRecord,
  sandbox: SandboxForContainer,
  runtime: OciRuntime,
): Promise<void> {
  const rootfs = `${rec.bundleDir}/rootfs`;
  const runtimeLog = `${rec.bundleDir}/runtime.log`;
  const persistDir = `${rec.bundleDir}/persist`;
  // After a node reboot the overlay is gone; mount it again from the same layers.
  if (!isMounted(rootfs)) {
    const idmap = rootfsIdmapFor(sandbox, rec.bundleDir);
    await mountRootfs(rec.layerDirs, rec.upperDir, rec.workDir, rootfs, idmap);
  }
  // Synchronous: tiny local fs calls, each cheaper than a round trip to the blocking pool.
  Deno.mkdirSync(persistDir, { recursive: true, mode: 0o700 });
  for (const stale of [`${persistDir}/exit`, `${persistDir}/oom`, `${ctx.exitDir}/${rec.id}`]) {
    removeIfThere(stale);
  }
  if (rec.logPath) Deno.mkdirSync(dirname(rec.logPath), { recursive: true });
  const started = await startConmon({
    conmon: ctx.config.runtime.conmon,
    id: rec.id,
    name: rec.name,
    bundle: rec.bundleDir,
    logPath: rec.logPath || `${rec.bundleDir}/ctr.log`,
    exitDir: ctx.exitDir,
    persistDir,
    socketDir: ctx.socketDir,
    runtimeBinary: resolveBinary(rec.runtimeBinary),
    runtimeArgs: runtime.globalArgs(runtimeLog),
    terminal: rec.tty,
    stdin: rec.stdin,
    stdinOnce: rec.stdinOnce,
    systemdCgroup: ctx.config.cgroup_driver === "systemd",
    conmonLog: `${rec.bundleDir}/conmon.log`,
    pidFile: `${rec.bundleDir}/pidfile`,
    conmonPidFile: `${rec.bundleDir}/conmon.pid`,
    beforeStart: (pid) => placeConmon(ctx, rec, sandbox, pid),
  });
  rec.pid = started.pid;
  rec.conmonPid = started.conmonPid;
  rec.bootId = bootId();
  // The process may end before `runc start` returns: take the time before, so that
  // finished_at is never earlier than started_at.
  rec.startedAt = Date.now();
  await runtime.start(rec.id, runtimeLog);
}

function removeIfThere(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* not there */ }
}
