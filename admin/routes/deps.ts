/** What every admin API sub-app is built from, and the CRI look-ups several of them share. */
import { NotFoundError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import type { ContainerStatus, PodSandboxStatus } from "../../cri/types.ts";
import type { AuditSink } from "../audit.ts";
import type { LocalCri } from "../local_cri.ts";
import type { PullProgressSource } from "./pulls.ts";

export interface ApiDeps {
  cri: LocalCri;
  audit?: AuditSink;
  pullProgress?: PullProgressSource;
  log?: Logger;
}

/** A pod's status, or null when it cannot be had (gone meanwhile, or not served). */
export async function podStatusOrNull(
  cri: LocalCri,
  id: string,
  signal?: AbortSignal,
): Promise<PodSandboxStatus | null> {
  try {
    return (await cri.call("PodSandboxStatus", { pod_sandbox_id: id }, signal)).status ?? null;
  } catch {
    return null;
  }
}

/** A container's status; a missing one is a 404. */
export async function containerStatusOf(
  cri: LocalCri,
  id: string,
  signal?: AbortSignal,
): Promise<ContainerStatus> {
  const res = await cri.call("ContainerStatus", { container_id: id }, signal);
  if (!res.status) throw new NotFoundError(`container ${JSON.stringify(id)} not found`);
  return res.status;
}
