/**
 * Namespaces of the container: a mount namespace of its own, the pod's network, IPC and
 * UTS namespaces (with its hostname and namespaced sysctls), a PID namespace of its own,
 * the pod's or the host's, and a cgroup namespace on cgroup v2. In a pod with its own user
 * namespace (`hostUsers: false`), the container joins that pinned namespace by path, and
 * the spec carries its mappings (runc joins it and writes no maps of its own).
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { IDMapping } from "../model.ts";
import type { OciIdMapping, OciSpec, SpecOption } from "./types.ts";

/**
 * A container's own `userns_options` must agree with its pod's: kubelet repeats the pod's
 * mode; a container cannot have a user namespace of its own or another container's.
 */
export const checkUserNamespace: SpecOption = (_spec, ctx) => {
  const userns = ctx.securityContext?.namespace_options?.userns_options;
  if (!userns) return;
  const mode = userns.mode ?? "POD";
  const podHasOne = !!ctx.sandbox.usernsPath;
  if (mode === "NODE" && !podHasOne) return;
  if (mode === "POD" && podHasOne) return;
  if (mode === "POD" || mode === "NODE") {
    throw new InvalidArgumentError(
      `container asks for user namespace mode ${mode}, but its pod ` +
        (podHasOne ? "has a user namespace of its own" : "uses the host's user namespace"),
    );
  }
  throw new InvalidArgumentError(
    `user namespace mode ${mode} is not supported for a container; containers share ` +
      `their pod's user namespace`,
  );
};

function ociMapping(m: IDMapping): OciIdMapping {
  return { containerID: m.container_id, hostID: m.host_id, size: m.length };
}

export const withNamespaces: SpecOption = (spec, ctx) => {
  const { sandbox, pidNamespace } = ctx;
  const namespaces: OciSpec["linux"]["namespaces"] = [{ type: "mount" }];
  const join = (type: string, path: string | null) => {
    if (path) namespaces.push({ type, path });
  };
  if (sandbox.usernsPath && sandbox.idMappings) {
    join("user", sandbox.usernsPath);
    spec.linux.uidMappings = [ociMapping(sandbox.idMappings.uids)];
    spec.linux.gidMappings = [ociMapping(sandbox.idMappings.gids)];
  }
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
