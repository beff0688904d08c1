/**
 * The seams between Skiff's domain services, so that images, sandboxes and containers can
 * be built and tested apart and composed in `daemon.ts`. Each service implements its side;
 * none imports another's internals.
 */
import type { IDMapping } from "./model.ts";

// ---------------------------------------------------------------------------------------
// What runtime/ (containers) needs from image/

/** The parts of an OCI image config a container is built from. */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Volumes?: Record<string, unknown>;
  ExposedPorts?: Record<string, unknown>;
  Labels?: Record<string, string>;
}

export interface ImageForContainer {
  /** Image ID: the config digest, `sha256:…`. */
  id: string;
  repoTags: string[];
  repoDigests: string[];
  config: ImageRuntimeConfig;
  /** Unpacked layer directories, lowest (base) layer first: the overlay lowerdirs. */
  layerDirs: string[];
}

export interface ImageProvider {
  /** Resolves a reference, digest, ID or unique ID prefix to a present image. */
  findImage(ref: string): ImageForContainer | undefined;
}

/** What image/ asks of runtime/: RemoveImage is refused while a container uses an image. */
export interface ImageUsage {
  /** IDs of containers (any state) created from this image ID. */
  containersUsingImage(imageId: string): string[];
}

// ---------------------------------------------------------------------------------------
// What runtime/ (containers) needs from sandboxes

export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

/** A ready or stopped sandbox, as containers see it. */
export interface SandboxForContainer {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
  /** OCI runtime handler chosen for the pod (key of config.runtime.handlers). */
  runtimeHandler: string;
  /** Pinned namespace files containers join; null where the pod uses the host's. */
  netnsPath: string | null;
  ipcnsPath: string | null;
  utsnsPath: string | null;
  /** The pod's pinned user namespace (`hostUsers: false`), or null/absent for the host's. */
  usernsPath?: string | null;
  /** Its uid and gid mappings (one each, from container ID 0), with `usernsPath`. */
  idMappings?: { uids: IDMapping; gids: IDMapping } | null;
  /** PID namespace of the pod's infra process when the pod shares one (POD mode). */
  pidnsPath: string | null;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
  /** Whether the pod may hold privileged containers (its config's security context). */
  privileged: boolean;
  hostname: string;
  /** Files bind-mounted into every container of the pod. */
  resolvConfPath: string;
  hostsPath: string;
  hostnamePath: string;
  /** The pod's /dev/shm (a tmpfs), or null with host IPC. */
  shmPath: string | null;
  /** Parent cgroup for the pod's containers, as kubelet gave it. */
  cgroupParent: string;
  logDirectory: string;
  /** Pod-level sysctls, applied to every container. */
  sysctls: Record<string, string>;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface SandboxProvider {
  getSandbox(id: string): SandboxForContainer | undefined;
}

/** What sandboxes ask of containers when a pod stops or is removed. */
export interface PodContainers {
  /** Stops every running container of the pod (grace, then SIGKILL). */
  stopPodContainers(sandboxId: string, timeoutSeconds: number): Promise<void>;
  /** Removes every container of the pod (forcing running ones down). */
  removePodContainers(sandboxId: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// What the streaming server (exec, attach) needs from containers

export type ContainerStateName =
  | "CONTAINER_CREATED"
  | "CONTAINER_RUNNING"
  | "CONTAINER_EXITED"
  | "CONTAINER_UNKNOWN";

export interface ContainerForStreaming {
  id: string;
  sandboxId: string;
  state: ContainerStateName;
  /** Host PID of the container's init process (0 when not running). */
  pid: number;
  tty: boolean;
  stdin: boolean;
  /** The OCI runtime driving it, for `runc exec`. */
  runtimeBinary: string;
  runtimeRoot: string;
  runtimeOptions: string[];
  /** conmon's attach socket (SOCK_SEQPACKET) and control FIFO (resize, reopen log). */
  attachSocketPath: string;
  ctlFifoPath: string;
  bundleDir: string;
}

export interface ContainerLookup {
  getContainerForStreaming(id: string): ContainerForStreaming | undefined;
}

// ---------------------------------------------------------------------------------------
// Container lifecycle events (GetContainerEvents, admin live updates, metrics)

export type ContainerEventType =
  | "CONTAINER_CREATED_EVENT"
  | "CONTAINER_STARTED_EVENT"
  | "CONTAINER_STOPPED_EVENT"
  | "CONTAINER_DELETED_EVENT";

export interface ContainerEvent {
  type: ContainerEventType;
  containerId: string;
  sandboxId: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/** Where a service publishes the events it owns; publishing never waits, never throws. */
export interface EventPublisher<T> {
  publish(event: T): void;
}

export type ContainerEventSink = EventPublisher<ContainerEvent>;

// ---------------------------------------------------------------------------------------
// What stats, metrics and resource updates need from containers and sandboxes

export interface ContainerForStats {
  id: string;
  sandboxId: string;
  /** CRI metadata name and attempt. */
  name: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The image as the container's status reports it (`image.image`). */
  image: string;
  state: ContainerStateName;
  /** Host PID of the init process (0 when not running). */
  pid: number;
  /** runc's `cgroupsPath`: a path (cgroupfs driver) or `slice:prefix:name` (systemd). */
  cgroupsPath: string;
  /** The container's writable layer (overlay upperdir), or null if it has none. */
  writableLayerDir: string | null;
  /** When it started, milliseconds since the epoch (0 when never started). */
  startedAt: number;
}

export interface SandboxForStats {
  id: string;
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
  /** The pod cgroup kubelet gave (cgroupfs path or systemd slice); "" when none. */
  cgroupParent: string;
  netnsPath: string | null;
  hostNetwork: boolean;
}

export interface StatsTargets {
  listContainersForStats(): ContainerForStats[];
  getContainerForStats(id: string): ContainerForStats | undefined;
  listSandboxesForStats(): SandboxForStats[];
  getSandboxForStats(id: string): SandboxForStats | undefined;
}

// ---------------------------------------------------------------------------------------
// Byte streams between the streaming server (streaming/) and exec, attach, port-forward

export interface TerminalSize {
  width: number;
  height: number;
}

/**
 * The client's side of a remote command, as web streams. Absent streams were not requested.
 * `stdout`/`stderr` writes resolve only once the client's socket took the bytes, so a
 * producer piping into them is slowed to the client's pace.
 */
export interface CommandStreams {
  stdin: ReadableStream<Uint8Array> | null;
  stdout: WritableStream<Uint8Array> | null;
  stderr: WritableStream<Uint8Array> | null;
  /** Terminal sizes from the client (TTY sessions only). */
  resize: ReadableStream<TerminalSize> | null;
}

/** A byte stream both ways: one port-forward connection. */
export interface DuplexStreams {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
}
