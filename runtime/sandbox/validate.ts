/**
 * Up-front checks of a RunPodSandbox request's names, hostname and log directory: what
 * reaches argv (`unshare … hostname`), CNI_ARGS (`K8S_POD_NAME=…;…`) or a path must be
 * refused before anything is made, never fail half-way as INTERNAL.
 *
 * Names follow `runtime/names.ts`; hostnames RFC 1123 within the kernel's limit; the log
 * directory is absolute, as kubelet's `/var/log/pods/…` always is.
 */
import { isIP } from "node:net";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { PodSandboxConfig } from "../model.ts";
import { quoted, validateName } from "../names.ts";

/** Longest label of a hostname (RFC 1123). */
export const MAX_HOSTNAME_LABEL = 63;
/**
 * Longest hostname: the kernel's UTS nodename holds 64 bytes plus the NUL
 * (`__NEW_UTS_LEN`, sethostname(2) refuses more), and Kubernetes caps a pod's FQDN
 * hostname (setHostnameAsFQDN) at the same 64.
 */
export const MAX_HOSTNAME_LENGTH = 64;
/** Longest log directory (PATH_MAX, less room for the container's own log path). */
export const MAX_LOG_DIRECTORY_LENGTH = 2048;

const HOSTNAME_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/;

/** Why `hostname` is not an RFC 1123 hostname the kernel can hold, or null when it is. */
export function hostnameProblem(hostname: string): string | null {
  if (hostname.length > MAX_HOSTNAME_LENGTH) {
    return `is longer than ${MAX_HOSTNAME_LENGTH} characters (the kernel's limit)`;
  }
  for (const label of hostname.split(".")) {
    if (label.length > MAX_HOSTNAME_LABEL) {
      return `has a label longer than ${MAX_HOSTNAME_LABEL} characters`;
    }
    if (!HOSTNAME_LABEL.test(label)) {
      return "is not an RFC 1123 hostname: dot-separated labels of letters, digits and '-', " +
        "each starting and ending with a letter or digit";
    }
  }
  return null;
}

export function validateHostname(hostname: string): void {
  const problem = hostnameProblem(hostname);
  if (problem) throw new InvalidArgumentError(`hostname ${quoted(hostname)} ${problem}`);
}

/**
 * The hostname of a pod that asked for none: its name, as kubelet derives one (cut to 63
 * characters, no trailing '-' or '.'), with any other character made '-'.
 */
export function hostnameFromPodName(name: string): string {
  const cut = (s: string) => s.slice(0, MAX_HOSTNAME_LABEL).replace(/[-.]+$/, "");
  const asIs = cut(name);
  if (asIs && hostnameProblem(asIs) === null) return asIs;
  return cut(name.replace(/[^A-Za-z0-9]/g, "-")).replace(/^-+/, "") || "pod";
}

/** The pod's log directory: absolute (kubelet's /var/log/pods/…), or empty for none. */
export function validateLogDirectory(dir: string): void {
  if (!dir) return;
  if (!dir.startsWith("/")) {
    throw new InvalidArgumentError(
      `log_directory ${quoted(dir)} must be an absolute path (kubelet sends /var/log/pods/…)`,
    );
  }
  if (dir.length > MAX_LOG_DIRECTORY_LENGTH || dir.includes("\0")) {
    throw new InvalidArgumentError(
      `log_directory ${quoted(dir)} must be a path of at most ${MAX_LOG_DIRECTORY_LENGTH} ` +
        `characters without NUL bytes`,
    );
  }
}

/** Longest cgroup parent (kubelet's are well under 200 characters). */
export const MAX_CGROUP_PARENT_LENGTH = 1024;

/**
 * The pod's cgroup parent (`/kubepods/burstable/pod…` or `kubepods-…slice`) is joined under
 * /sys/fs/cgroup/<hierarchy> for conmon's cgroup: no `.` or `..` segment may lead it out.
 */
export function validateCgroupParent(parent: string): void {
  if (!parent) return;
  const segments = parent.split("/");
  if (
    parent.length > MAX_CGROUP_PARENT_LENGTH ||
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/.test(parent) ||
    segments.some((s) => s === "." || s === "..")
  ) {
    throw new InvalidArgumentError(
      `cgroup_parent ${quoted(parent)} must be a cgroup path (at most ` +
        `${MAX_CGROUP_PARENT_LENGTH} characters, no control characters, no "." or ".." segment)`,
    );
  }
}

/**
 * A port mapping's host_ip is an IP address or empty (all addresses): the portmap plugin
 * reads a malformed one as empty, so a typo would publish the port on every address.
 */
export function validateHostIps(config: PodSandboxConfig): void {
  for (const pm of config.port_mappings ?? []) {
    if (pm.host_ip && isIP(pm.host_ip) === 0) {
      throw new InvalidArgumentError(
        `port mapping ${pm.host_port}->${pm.container_port}: host_ip ${quoted(pm.host_ip)} ` +
          `is not an IP address (leave it empty for every address)`,
      );
    }
  }
}

/** Every check of this file on one request; throws INVALID_ARGUMENT naming the field. */
export function validateSandboxConfig(config: PodSandboxConfig): void {
  const md = config.metadata;
  if (md) {
    validateName("pod name", md.name);
    validateName("pod namespace", md.namespace);
    validateName("pod uid", md.uid);
  }
  if (config.hostname) validateHostname(config.hostname);
  validateLogDirectory(config.log_directory ?? "");
  validateCgroupParent(config.linux?.cgroup_parent ?? "");
  validateHostIps(config);
}
