/**
 * Operations on live containers beyond their lifecycle: resource updates, log reopening
 * after rotation, checkpoints. Looks containers up in the container service and keeps one
 * operation per container at a time (a resize racing a checkpoint helps nobody).
 */
import { InvalidArgumentError, NotFoundError } from "../core/errors.ts";
import type { LinuxContainerResources } from "./model.ts";
import type { ContainerRecord } from "./container/mod.ts";
import { checkpointContainer, CriuProbe } from "./checkpoint.ts";
import { reopenContainerLog } from "./log_reopen.ts";
import { applyResources } from "./resource_update.ts";
import { toOciResources } from "./spec/mod.ts";
import { KeyedLock } from "../core/keyed_lock.ts";

/** What this needs of the container service. */
export interface MaintainedContainers {
  /** By ID or unique prefix; throws NotFoundError. */
  get(idOrPrefix: string): ContainerRecord;
  /** Stores the resources now in force, so ContainerStatus reports them. */
  recordResources(id: string, resources: LinuxContainerResources): void;
}

export interface MaintenanceOptions {
  containers: () => MaintainedContainers | null;
  /** Whether a pod sandbox exists (UpdatePodSandboxResources). */
  sandboxExists: (id: string) => boolean;
  cgroupV2: boolean;
  criu?: CriuProbe;
}

/** CRI resources with the update's set fields laid over the current ones. */
export function mergeCriResources(
  current: LinuxContainerResources | null,
  update: LinuxContainerResources,
): LinuxContainerResources {
  const out: LinuxContainerResources = {
    cpu_period: "0",
    cpu_quota: "0",
    cpu_shares: "0",
    memory_limit_in_bytes: "0",
    oom_score_adj: "0",
    cpuset_cpus: "",
    cpuset_mems: "",
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: "0",
    ...(current ?? {}),
  };
  const ints = [
    "cpu_period",
    "cpu_quota",
    "cpu_shares",
    "memory_limit_in_bytes",
    "memory_swap_limit_in_bytes",
  ] as const;
  for (const k of ints) if (update[k] && update[k] !== "0") out[k] = String(update[k]);
  if (update.cpuset_cpus) out.cpuset_cpus = update.cpuset_cpus;
  if (update.cpuset_mems) out.cpuset_mems = update.cpuset_mems;
  if (update.hugepage_limits?.length) out.hugepage_limits = update.hugepage_limits;
  if (update.unified && Object.keys(update.unified).length) {
    out.unified = { ...out.unified, ...update.unified };
  }
  return out;
}

export class ContainerMaintenance {
  /** One maintenance operation at a time per container. */
  private readonly locks = new KeyedLock();
  readonly criu: CriuProbe;

  constructor(private readonly opts: MaintenanceOptions) {
    this.criu = opts.criu ?? new CriuProbe();
  }

  private service(): MaintainedContainers {
    const s = this.opts.containers();
    if (!s) {
      throw new NotFoundError("no containers exist yet: the container service is not running");
    }
    return s;
  }

  async updateResources(
    idOrPrefix: string,
    linux: LinuxContainerResources | null,
  ): Promise<void> {
    const svc = this.service();
    const id = svc.get(idOrPrefix).id;
    if (!linux) return;
    // Validate before touching anything: bad values are the caller's to fix.
    const oci = toOciResources(linux, { cgroupV2: this.opts.cgroupV2 });
    await this.locks.run(id, async () => {
      const rec = svc.get(id);
      await applyResources(rec, oci);
      svc.recordResources(id, mergeCriResources(rec.resources, linux));
    });
  }

  /**
   * kubelet tells the runtime a pod's new resources after an in-place resize; it manages the
   * pod cgroup itself, so Skiff validates and accepts them (as containerd does without NRI).
   */
  updatePodResources(
    sandboxId: string,
    resources: LinuxContainerResources | null | undefined,
    overhead: LinuxContainerResources | null | undefined,
  ): void {
    if (!sandboxId) throw new InvalidArgumentError("pod_sandbox_id is empty");
    if (!this.opts.sandboxExists(sandboxId)) {
      throw new NotFoundError(`pod sandbox "${sandboxId}" not found`);
    }
    if (resources) toOciResources(resources, { cgroupV2: this.opts.cgroupV2 });
    if (overhead) toOciResources(overhead, { cgroupV2: this.opts.cgroupV2 });
  }

  async reopenLog(idOrPrefix: string, signal?: AbortSignal): Promise<void> {
    const svc = this.service();
    const id = svc.get(idOrPrefix).id;
    await this.locks.run(id, async () => {
      const rec = svc.get(id);
      await reopenContainerLog({
        id,
        state: rec.state,
        ctlFifoPath: `${rec.bundleDir}/ctl`,
        logPath: rec.logPath,
      }, { signal });
    });
  }

  async checkpoint(idOrPrefix: string, location: string, timeoutSeconds: number): Promise<void> {
    const svc = this.service();
    const id = svc.get(idOrPrefix).id;
    await this.locks.run(id, async () => {
      const rec = svc.get(id);
      await checkpointContainer(
        {
          id,
          state: rec.state,
          bundleDir: rec.bundleDir,
          upperDir: rec.upperDir,
          runtimeBinary: rec.runtimeBinary,
          runtimeRoot: rec.runtimeRoot,
          runtimeOptions: rec.runtimeOptions,
          metadata: {
            name: rec.name,
            attempt: rec.attempt,
            sandboxId: rec.sandboxId,
            image: rec.image?.image,
            imageRef: rec.imageRef,
            labels: rec.labels,
            annotations: rec.annotations,
            createdAt: rec.createdAt,
          },
        },
        location,
        { criu: this.criu, timeoutSeconds },
      );
    });
  }
}
