/** Containers: public surface of runtime/container/. */
export { ContainerService, type ContainerServiceDeps } from "./service.ts";
export type { ContainerListFilter, ContainerRecord } from "./record.ts";
export { START_ERROR_EXIT_CODE } from "./start.ts";
export { type ContainerMetrics, containerMetrics, NO_CONTAINER_METRICS } from "./metrics.ts";
export {
  canRemove,
  canStart,
  canStop,
  type ContainerPhase,
  hasExited,
  isLive,
  phaseOf,
} from "./state.ts";
export { parseSignal } from "../../linux/signals.ts";
