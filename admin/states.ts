/**
 * The CRI state literals the admin API and the dashboard compare against, each behind one
 * small predicate, so route and page code never repeat "CONTAINER_RUNNING" and friends. The
 * JSON the API returns keeps the CRI literals unchanged. Pure: also bundled into the page.
 */
import type { ContainerState, PodSandboxState } from "../cri/types.ts";

/** `?state=` words for pods → the CRI state (the literal itself is accepted too). */
export const POD_STATE_PARAMS: Readonly<Record<string, PodSandboxState>> = {
  ready: "SANDBOX_READY",
  notready: "SANDBOX_NOTREADY",
  sandbox_ready: "SANDBOX_READY",
  sandbox_notready: "SANDBOX_NOTREADY",
};

/** `?state=` words for containers → the CRI state (the literal itself is accepted too). */
export const CONTAINER_STATE_PARAMS: Readonly<Record<string, ContainerState>> = {
  created: "CONTAINER_CREATED",
  running: "CONTAINER_RUNNING",
  exited: "CONTAINER_EXITED",
  unknown: "CONTAINER_UNKNOWN",
};

export function isPodReady(state: string | undefined): boolean {
  return state === POD_STATE_PARAMS.ready;
}

export function isContainerRunning(state: string | undefined): boolean {
  return state === CONTAINER_STATE_PARAMS.running;
}

export function isContainerExited(state: string | undefined): boolean {
  return state === CONTAINER_STATE_PARAMS.exited;
}

/** "CONTAINER_RUNNING" → "running", "SANDBOX_NOTREADY" → "notready" (for display). */
export function stateWord(state: string | undefined): string {
  return (state ?? "").replace(/^(CONTAINER|SANDBOX)_/, "").toLowerCase();
}
