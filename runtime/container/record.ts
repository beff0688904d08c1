/** What Skiff remembers of a container across restarts (persisted in the store as is). */
import type { ContainerStateName } from "../contracts.ts";
import type { ImageSpec, LinuxContainerResources, Mount } from "../model.ts";

/** What Skiff remembers of a container, across restarts. */
export interface ContainerRecord {
  id: string;
  sandboxId: string;
  name: string;
  attempt: number;
  /** Set while CreateContainer is still making it: a crash leaves this to clean. */
  creating?: boolean;
  state: ContainerStateName;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  image: ImageSpec;
  imageRef: string;
  imageId: string;
  /** Images mounted as volumes (Mount.image): also in use while the container exists. */
  volumeImageIds?: string[];
  layerDirs: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: Mount[];
  logPath: string;
  resources: LinuxContainerResources | null;
  user: { uid: number; gid: number; additionalGids: number[] };
  stopSignal: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  runtimeHandler: string;
  runtimeBinary: string;
  runtimeRoot: string;
  runtimeOptions: string[];
  pid: number;
  conmonPid: number;
  /** The kernel boot it was started in: after a reboot its PIDs mean nothing. */
  bootId?: string;
  /** Pod cgroup conmon was moved under (cgroupfs driver), to remove its cgroup later. */
  conmonCgroupParent?: string;
  bundleDir: string;
  upperDir: string;
  workDir: string;
}

export interface ContainerListFilter {
  id?: string;
  state?: ContainerStateName;
  sandboxId?: string;
  labels?: Record<string, string>;
}

/** The key that makes a container name unique: pod, name and attempt. */
export function nameKey(rec: Pick<ContainerRecord, "sandboxId" | "name" | "attempt">): string {
  return `${rec.sandboxId}/${rec.name}/${rec.attempt}`;
}
