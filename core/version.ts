/** The one place Skiff's version lives. */
export const SKIFF_VERSION = "0.1.0";
export const RUNTIME_NAME = "skiff";
/** CRI API version spoken on the socket. */
export const RUNTIME_API_VERSION = "v1";
/** The Kubernetes-style API version reported by Version(). */
export const KUBE_API_VERSION = "0.1.0";
