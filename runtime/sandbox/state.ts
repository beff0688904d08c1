/**
 * A pod sandbox's lifecycle as the domain sees it, and the container events kubelet sees for
 * each step (Skiff pods have no pause container, so the sandbox raises them itself, as
 * containerd's sandbox container does: container_id = pod_sandbox_id).
 *
 * ```
 *                 RunPodSandbox done                StopPodSandbox, or parts lost
 *   ┌──────────┐  CREATED, STARTED   ┌───────┐     while Skiff was down   ┌──────────┐
 *   │ creating │ ──────────────────▶ │ ready │ ─────────────────────────▶ │ notready │
 *   └──────────┘                     └───────┘   STOPPED (not on recovery) └──────────┘
 *        │                               │                                     │
 *        │ failure undone, or            │ RemovePodSandbox                    │ RemovePodSandbox
 *        │ interrupted (recovery)        │ STOPPED, DELETED                    │ DELETED
 *        │ (no events: never seen)       ▼                                     │
 *        └─────────────────────────▶ ┌─────────┐ ◀─────────────────────────────┘
 *                                    │ removed │   (record forgotten; not persisted)
 *                                    └─────────┘
 * ```
 *
 * `creating` is recorded before the first side effect so that a crash half-way is undone
 * at the next start; such a sandbox is invisible to clients (status says NOT_FOUND).
 */
import { InternalError } from "../../core/errors.ts";
import type { ContainerEventType } from "../contracts.ts";
import type { PodSandboxState } from "../model.ts";

/** The persisted phase of a sandbox record. */
export type SandboxPhase = "creating" | "ready" | "notready";

/** Every state, including the terminal one that has no record any more. */
export type SandboxState = SandboxPhase | "removed";

const TRANSITIONS: Record<SandboxState, readonly SandboxState[]> = {
  creating: ["ready", "removed"],
  ready: ["notready", "removed"],
  notready: ["removed"],
  removed: [],
};

export function canTransition(from: SandboxState, to: SandboxState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws (an internal error: a bug, not bad input) unless `from → to` is a transition. */
export function assertTransition(from: SandboxState, to: SandboxState): void {
  if (!canTransition(from, to)) {
    throw new InternalError(`pod sandbox cannot go from ${from} to ${to}`);
  }
}

/** Whether clients see a sandbox in this phase (a half-made one does not exist for them). */
export function isVisible(phase: SandboxPhase): boolean {
  return phase !== "creating";
}

/** The CRI state of a visible sandbox. */
export function criStateOf(phase: SandboxPhase): PodSandboxState {
  return phase === "ready" ? "SANDBOX_READY" : "SANDBOX_NOTREADY";
}

/** The CRI state of a sandbox record. */
export function stateOf(r: { phase: SandboxPhase }): PodSandboxState {
  return criStateOf(r.phase);
}

/**
 * The events a transition raises, in order. Recovery's ready → notready raises none: it
 * happens before anyone can subscribe, and kubelet relists after a restart anyway.
 */
export function eventsFor(
  from: SandboxState,
  to: SandboxState,
  cause: "rpc" | "recovery" = "rpc",
): ContainerEventType[] {
  assertTransition(from, to);
  if (cause === "recovery") return [];
  if (from === "creating") {
    return to === "ready" ? ["CONTAINER_CREATED_EVENT", "CONTAINER_STARTED_EVENT"] : [];
  }
  if (to === "notready") return ["CONTAINER_STOPPED_EVENT"];
  // → removed: removing a ready pod stops it first.
  return from === "ready"
    ? ["CONTAINER_STOPPED_EVENT", "CONTAINER_DELETED_EVENT"]
    : ["CONTAINER_DELETED_EVENT"];
}
