/**
 * What the sandbox verbs (run, stop, remove, recover) share: the service's dependencies,
 * its records, its one lock, the pod network, and where events go. Built once by
 * `SandboxService`; the verbs never construct any of it themselves.
 */
import type { Config } from "../../core/config/mod.ts";
import type { KeyedLock } from "../../core/keyed_lock.ts";
import type { PodCidr } from "../../network/pod_cidr.ts";
import type { Store } from "../../store/mod.ts";
import type {
  ContainerEvent,
  ContainerEventType,
  EventPublisher,
  PodContainers,
} from "../contracts.ts";
import type { PodNetwork } from "./network.ts";
import type { SandboxRecords } from "./records.ts";

export interface SandboxDeps {
  config: Config;
  store: Store;
  podCidr?: PodCidr;
  /**
   * The pod's containers, asked for only when a pod stops or is removed (never while the
   * service is built or recovers), so the container service may be built after this one.
   */
  podContainers: () => PodContainers;
  /** Where the sandbox's own lifecycle events go (GetContainerEvents, metrics). */
  events: EventPublisher<ContainerEvent>;
}

/** Internal to runtime/sandbox/: the verbs' view of the service. */
export interface SandboxContext {
  readonly config: Config;
  readonly records: SandboxRecords;
  /** Serializes the verbs per sandbox ID. */
  readonly lock: KeyedLock;
  readonly network: PodNetwork;
  /** Pinned namespace files: `<state_dir>/ns`. */
  readonly nsDir: string;
  /** Per-pod files: `<state_dir>/sandboxes`. */
  readonly sandboxesDir: string;
  podContainers(): PodContainers;
  /** Publishes `types`, in order, for the sandbox `id` (container_id = pod_sandbox_id). */
  publish(id: string, types: ContainerEventType[]): void;
  /** Resolves once `nsDir` is a private bind mount (prepared once per process). */
  namespaceDirReady(): Promise<void>;
}
