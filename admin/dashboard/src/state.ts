/** What the page knows: the token, the node's capabilities and the last lists fetched. */
import type {
  Capabilities,
  ContainerStats,
  ContainerView,
  HostSample,
  ImageView,
  NodeSummary,
  PodView,
} from "./types.ts";

export type Tab = "overview" | "pods" | "containers" | "images" | "logs" | "terminal";

export interface DashboardState {
  token: string;
  caps: Capabilities;
  pods: PodView[];
  containers: ContainerView[];
  images: ImageView[];
  node: NodeSummary | null;
  /** Host samples, oldest first, for the charts (at most 90: three minutes). */
  samples: HostSample[];
  /** The last stats of each container, by container ID. */
  containerStats: Map<string, ContainerStats>;
  tab: Tab;
}

export const state: DashboardState = {
  token: "",
  caps: {},
  pods: [],
  containers: [],
  images: [],
  node: null,
  samples: [],
  containerStats: new Map(),
  tab: "overview",
};

let refreshHandler: () => void = () => {};

/** Asks for every list to be fetched again soon (after an action, or a container event). */
export function requestRefresh(): void {
  refreshHandler();
}

/** Set once by the page's start-up: what requestRefresh() does. */
export function onRefreshRequest(handler: () => void): void {
  refreshHandler = handler;
}
