/**
 * Pod sysctls: only namespaced ones are allowed (Kubernetes' safe + unsafe namespaced
 * sets): IPC ones (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) need the pod's own
 * IPC namespace, net.* ones its own network namespace. Anything else would change the
 * whole node, so it is refused.
 */
import { InvalidArgumentError } from "../../core/errors.ts";

export type SysctlNamespace = "ipc" | "net";

const NAME = /^[a-z0-9_]+([./][a-zA-Z0-9_+-]+)+$/;

/** Kubernetes also accepts `/` as separator (for interface names with dots). */
export function normalizeSysctlName(name: string): string {
  if (!name.includes("/")) return name;
  return name.split("").map((c) => c === "." ? "/" : c === "/" ? "." : c).join("");
}

export function sysctlNamespace(name: string): SysctlNamespace | null {
  const n = normalizeSysctlName(name);
  if (
    n === "kernel.sem" || n.startsWith("kernel.shm") || n.startsWith("kernel.msg") ||
    n.startsWith("fs.mqueue.")
  ) return "ipc";
  if (n.startsWith("net.")) return "net";
  return null;
}

/** Validates pod sysctls against the pod's namespaces; throws INVALID_ARGUMENT naming why. */
export function validateSysctls(
  sysctls: Record<string, string>,
  pod: { hostNetwork: boolean; hostIpc: boolean },
): void {
  for (const [name, value] of Object.entries(sysctls)) {
    if (!NAME.test(name)) {
      throw new InvalidArgumentError(`sysctl ${JSON.stringify(name)} is not a valid sysctl name`);
    }
    if (value.includes("\n") || value.includes("\0")) {
      throw new InvalidArgumentError(`sysctl ${name}: value must be a single line`);
    }
    const ns = sysctlNamespace(name);
    if (ns === null) {
      throw new InvalidArgumentError(
        `sysctl ${name} is not namespaced and would change the whole node; allowed: ` +
          `kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*`,
      );
    }
    if (ns === "net" && pod.hostNetwork) {
      throw new InvalidArgumentError(
        `sysctl ${name} is not allowed for a pod on the host network (it would change the node)`,
      );
    }
    if (ns === "ipc" && pod.hostIpc) {
      throw new InvalidArgumentError(
        `sysctl ${name} is not allowed for a pod in the host IPC namespace`,
      );
    }
  }
}
