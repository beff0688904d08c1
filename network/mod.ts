/** Pod networking: public surface of network/. */
export { listCniConfigFiles, type NetworkReadiness, networkReadiness } from "./readiness.ts";
export { PodCidr } from "./pod_cidr.ts";
export { CniRuntime, defaultBridgeNetwork, loadNetworkConfig } from "./cni.ts";
