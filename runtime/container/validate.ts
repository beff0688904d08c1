/**
 * Up-front checks of a CreateContainer request against its pod, before anything is made:
 * what would otherwise fail later (at StartContainer, as INTERNAL from runc or conmon) or
 * grant more than the pod allows is refused here as INVALID_ARGUMENT, as containerd and
 * CRI-O refuse it.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { SandboxForContainer } from "../contracts.ts";
import type { ContainerConfig, LinuxContainerSecurityContext } from "../model.ts";
import { quoted, validateName } from "../names.ts";

/** PATH_MAX: the longest path the kernel resolves. */
export const MAX_PATH_LENGTH = 4096;
/** MAX_ARG_STRLEN: execve(2) refuses a longer single argument or environment string. */
export const MAX_ARG_LENGTH = 128 * 1024;
/** Highest uid/gid a process can have ((uid_t)-1 means "none"). */
export const MAX_ID = 4294967294;

/** CRI: a privileged container needs a privileged pod (containerd and CRI-O refuse it too). */
export function validatePrivileged(
  name: string,
  sc: LinuxContainerSecurityContext | null | undefined,
  sandbox: SandboxForContainer,
): void {
  if (!sc?.privileged || sandbox.privileged) return;
  throw new InvalidArgumentError(
    `container ${quoted(name)} asks to be privileged, but its pod sandbox ${sandbox.id} ` +
      `(${sandbox.namespace}/${sandbox.name}) is not privileged: no privileged container ` +
      `is allowed in that sandbox (set privileged in the pod's security context)`,
  );
}

/** run_as_group alone names no user to give the group to (containerd's rule and wording). */
export function validateUser(sc: LinuxContainerSecurityContext | null | undefined): void {
  if (!sc) return;
  if (sc.run_as_group && !sc.run_as_user && !sc.run_as_username) {
    throw new InvalidArgumentError(
      `user group "${sc.run_as_group.value}" is specified without user ` +
        `(set run_as_user or run_as_username too)`,
    );
  }
  const ids: [string, string | undefined][] = [
    ["run_as_user", sc.run_as_user?.value],
    ["run_as_group", sc.run_as_group?.value],
    ...(sc.supplemental_groups ?? []).map((g): [string, string] => ["supplemental group", g]),
  ];
  for (const [what, v] of ids) {
    if (v === undefined) continue;
    const n = Number(v);
    if (!/^\d+$/.test(String(v)) || n > MAX_ID) {
      throw new InvalidArgumentError(`${what} ${quoted(String(v))} must be 0-${MAX_ID}`);
    }
  }
}

/** An absolute path of bounded length without NUL bytes. */
function checkPath(what: string, p: string, absolute: boolean): void {
  if (absolute && !p.startsWith("/")) {
    throw new InvalidArgumentError(`${what} ${quoted(p)} must be an absolute path`);
  }
  if (p.length > MAX_PATH_LENGTH || p.includes("\0")) {
    throw new InvalidArgumentError(
      `${what} ${
        quoted(p)
      } must be a path of at most ${MAX_PATH_LENGTH} characters without NUL bytes`,
    );
  }
}

/**
 * The log path is relative to the pod's log directory and must stay inside it and name a
 * file (kubelet sends `<container>/<restart>.log`); a pod without a log directory has none.
 */
export function validateLogPath(logPath: string, sandbox: SandboxForContainer): void {
  if (!logPath) return;
  checkPath("log_path", logPath, false);
  const parts = logPath.split("/");
  const last = parts[parts.length - 1];
  if (logPath.startsWith("/") || parts.includes("..") || last === "" || last === ".") {
    throw new InvalidArgumentError(
      `log_path ${quoted(logPath)} must be a file path relative to the pod's log directory ` +
        `and stay inside it`,
    );
  }
  if (!sandbox.logDirectory) {
    throw new InvalidArgumentError(
      `log_path ${quoted(logPath)} was given, but pod sandbox ${sandbox.id} has no ` +
        `log_directory to hold it`,
    );
  }
}

/** argv and environment reach execve(2): no NUL bytes, no string over MAX_ARG_STRLEN. */
export function validateProcess(config: ContainerConfig): void {
  const argv = [...(config.command ?? []), ...(config.args ?? [])];
  for (const a of argv) {
    if (a.includes("\0") || a.length >= MAX_ARG_LENGTH) {
      throw new InvalidArgumentError(
        `command/args ${quoted(a)}: each argument must be shorter than ${MAX_ARG_LENGTH} ` +
          `bytes and hold no NUL byte`,
      );
    }
  }
  const utf8 = new TextEncoder();
  for (const e of config.envs ?? []) {
    const value = typeof e.value === "string" ? utf8.encode(e.value) : e.value;
    if (!e.key || e.key.includes("=") || e.key.includes("\0") || value.includes(0)) {
      throw new InvalidArgumentError(
        `environment variable ${quoted(e.key)}: the name must be non-empty without '=' or ` +
          `NUL, the value without NUL`,
      );
    }
    if (e.key.length + value.length + 1 >= MAX_ARG_LENGTH) {
      throw new InvalidArgumentError(
        `environment variable ${quoted(e.key)} is ${value.length} bytes; each must be shorter ` +
          `than ${MAX_ARG_LENGTH} bytes`,
      );
    }
  }
  if (config.working_dir) checkPath("working_dir", config.working_dir, true);
}

/** Mount and device paths: absolute (image volumes have no host path), bounded, no NUL. */
export function validatePaths(config: ContainerConfig): void {
  for (const m of config.mounts ?? []) {
    checkPath("mount container_path", m.container_path ?? "", true);
    if (!m.image?.image) checkPath("mount host_path", m.host_path ?? "", true);
  }
  for (const d of config.devices ?? []) {
    checkPath("device host_path", d.host_path ?? "", true);
    if (d.container_path) checkPath("device container_path", d.container_path, true);
  }
}

/** Every check of this file; throws INVALID_ARGUMENT naming the field. */
export function validateContainerConfig(
  config: ContainerConfig,
  sandbox: SandboxForContainer,
): void {
  const name = config.metadata?.name ?? "";
  validateName("container name", name);
  const sc = config.linux?.security_context;
  validatePrivileged(name, sc, sandbox);
  validateUser(sc);
  validateLogPath(config.log_path ?? "", sandbox);
  validateProcess(config);
  validatePaths(config);
}
