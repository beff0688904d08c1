/**
 * What a failed StartContainer tells the client: the OCI runtime's reason, with the paths of
 * Skiff's own state taken out (a path inside the container's root is shown as the container
 * sees it), and the right code: a command that cannot be run, a mount or working directory
 * the container's filesystem refuses, or resource values the node refuses are the request's
 * fault (INVALID_ARGUMENT, with the container left EXITED/StartError as containerd does);
 * anything else is INTERNAL.
 */
import { InternalError, InvalidArgumentError, type SkiffError } from "../../core/errors.ts";

/** Skiff's own paths a start failure may mention. */
export interface StatePaths {
  rootfs: string;
  bundleDir: string;
  stateDir: string;
  rootDir: string;
}

/** runc's reasons that come from the container's config, not from Skiff or the node. */
const CONFIG_FAULTS = [
  /unable to start container process: exec: /,
  /error during container init: (error mounting|mkdir|chdir)/,
  /unable to apply cgroup configuration: failed to write/,
  /error setting cgroup config/,
  /unable to set memory limit/,
];

/** `message` with Skiff's own paths replaced (longest first, so the rootfs goes first). */
export function redactStatePaths(message: string, paths: StatePaths): string {
  let out = message;
  const rootfs = paths.rootfs.replace(/\/+$/, "");
  if (rootfs) out = out.replaceAll(`${rootfs}/`, "/").replaceAll(rootfs, "/");
  const named: [string, string][] = [
    [paths.bundleDir, "<bundle>"],
    [paths.stateDir, "<state_dir>"],
    [paths.rootDir, "<root_dir>"],
  ];
  named.sort((a, b) => b[0].length - a[0].length);
  for (const [p, name] of named) if (p) out = out.replaceAll(p.replace(/\/+$/, ""), name);
  return out;
}

/** The error StartContainer answers with, for the runtime's failure `reason`. */
export function startFailure(id: string, reason: string, paths: StatePaths): SkiffError {
  const text = redactStatePaths(reason, paths);
  if (CONFIG_FAULTS.some((re) => re.test(text))) {
    return new InvalidArgumentError(
      `container ${id} cannot start as configured: ${text}`,
    );
  }
  return new InternalError(`failed to start container ${id}: ${text}`);
}
