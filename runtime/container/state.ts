/**
 * A container's lifecycle, as a state machine over its record (`state` plus the
 * `creating` flag, both persisted):
 *
 *   creating ──(made)──▶ created ──(started)──▶ running ──(conmon died, process runs)──┐
 *      │                    │                     │                                    ▼
 *      │ (failed, or a      │ (start failed:      │ (process ended, stopped,        unknown
 *      │  crash: destroyed) │  StartError)        │  node rebooted)                    │
 *      ▼                    ▼                     ▼                                    │
 *   (gone)               exited ◀─────────────────┴──────────(process ended, stopped)──┘
 *
 * "creating" is CONTAINER_CREATED with `creating` set: CreateContainer has not finished, so
 * a crash leaves it to be destroyed at recovery; it is never visible to CRI. "unknown" is
 * CONTAINER_UNKNOWN: the process runs but its conmon died, so nobody will record its exit.
 * Removal takes a container out of any state but "creating" (a live one is stopped first);
 * nothing leaves "exited" but removal: CRI never restarts a container, kubelet makes a new one.
 */
import { InternalError } from "../../core/errors.ts";
import type { ContainerStateName } from "../contracts.ts";

export type ContainerPhase = "creating" | "created" | "running" | "unknown" | "exited";

export const PHASES: readonly ContainerPhase[] = [
  "creating",
  "created",
  "running",
  "unknown",
  "exited",
];

/** The part of a record the state machine reads and writes. */
export interface ContainerStateful {
  id: string;
  state: ContainerStateName;
  creating?: boolean;
}

const NEXT: Readonly<Record<ContainerPhase, readonly ContainerPhase[]>> = {
  creating: ["created"],
  created: ["running", "exited"],
  running: ["unknown", "exited"],
  unknown: ["exited"],
  exited: [],
};

const STATE_OF: Readonly<Record<ContainerPhase, ContainerStateName>> = {
  creating: "CONTAINER_CREATED",
  created: "CONTAINER_CREATED",
  running: "CONTAINER_RUNNING",
  unknown: "CONTAINER_UNKNOWN",
  exited: "CONTAINER_EXITED",
};

export function phaseOf(rec: ContainerStateful): ContainerPhase {
  switch (rec.state) {
    case "CONTAINER_CREATED":
      return rec.creating ? "creating" : "created";
    case "CONTAINER_RUNNING":
      return "running";
    case "CONTAINER_UNKNOWN":
      return "unknown";
    case "CONTAINER_EXITED":
      return "exited";
  }
}

export function canTransition(from: ContainerPhase, to: ContainerPhase): boolean {
  return NEXT[from].includes(to);
}

/** Moves `rec` to phase `to`; a transition the machine does not have is a bug. */
export function transition(rec: ContainerStateful, to: ContainerPhase): void {
  const from = phaseOf(rec);
  if (!canTransition(from, to)) {
    throw new InternalError(`container ${rec.id} cannot go from ${from} to ${to}`);
  }
  rec.state = STATE_OF[to];
  delete rec.creating;
}

/** Where every container begins: being created (nothing leads back here). */
export function initialState(): { state: ContainerStateName; creating: true } {
  return { state: "CONTAINER_CREATED", creating: true };
}

/**
 * Whether the container's process may be running: RUNNING, or UNKNOWN (running without its
 * conmon). Such a container can end at any time, is stopped by StopContainer and its end
 * publishes CONTAINER_STOPPED_EVENT.
 */
export function isLive(rec: ContainerStateful): boolean {
  const phase = phaseOf(rec);
  return phase === "running" || phase === "unknown";
}

/** StartContainer starts only a container that is made and was never started. */
export function canStart(rec: ContainerStateful): boolean {
  return phaseOf(rec) === "created";
}

/** StopContainer has something to do (otherwise it succeeds without doing anything). */
export function canStop(rec: ContainerStateful): boolean {
  return isLive(rec);
}

/** RemoveContainer may take it away (a live one after stopping it). */
export function canRemove(rec: ContainerStateful): boolean {
  return phaseOf(rec) !== "creating";
}

/** Whether its exit is recorded (code, reason, finish time). */
export function hasExited(rec: ContainerStateful): boolean {
  return phaseOf(rec) === "exited";
}
