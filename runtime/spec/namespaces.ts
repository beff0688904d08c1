/**
 * Namespaces of the container: a mount namespace of its own, the pod's network, IPC and
 * UTS namespaces (with its hostname and namespaced sysctls), a PID namespace of its own,
 * the pod's or the host's, and a cgroup namespace on cgroup v2. User namespaces are refused.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { OciSpec, SpecOption } from "./types.ts";

export const refuseUserNamespaces: SpecOption = (_spec, ctx) => {
  const userns = ctx.securityContext?.namespace_options?.userns_options;
  if (userns && userns.mode && userns.mode !== "NODE") {
    throw new InvalidArgumentError(
      `user namespaces (mode ${userns.mode}) are not supported by this Skiff's runtime handlers; ` +
        `run the pod with hostUsers: true`,
    );
  }
};

export const withNamespaces: SpecOption = (spec, ctx) => {
  const { sandbox, pidNamespace } = ctx;
  const namespaces: OciSpec["linux"]["namespaces"] = [{ type: "mount" }];
  const join = (type: string, path: string | null) => {
    if (path) namespaces.push({ type, path });
  };
  if (!sandbox.hostNetwork) join("network", sandbox.netnsPath);
  if (!sandbox.hostIpc) join("ipc", sandbox.ipcnsPath);
  join("uts", sandbox.utsnsPath);
  if (pidNamespace === null) namespaces.push({ type: "pid" });
  else if (pidNamespace !== "host") namespaces.push({ type: "pid", path: pidNamespace });
  if (ctx.cgroupV2) namespaces.push({ type: "cgroup" });
  spec.linux.namespaces = namespaces;
};

/** The pod's hostname, when the container is in the pod's UTS namespace. */
export const withHostname: SpecOption = (spec, { sandbox }) => {
  if (sandbox.utsnsPath && sandbox.hostname) spec.hostname = sandbox.hostname;
};

export const withSysctls: SpecOption = (spec, { sandbox }) => {
  spec.linux.sysctl = { ...sandbox.sysctls };
};
