/**
 * Confinement of the container process: AppArmor (refused: no node kernel Skiff runs on
 * has it), seccomp, no_new_privs, and the /proc and /sys paths masked or made read-only.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import { defaultSeccompProfile, loadLocalhostProfile } from "./seccomp.ts";
import type { SpecContext, SpecOption } from "./types.ts";

export const DEFAULT_MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

export const DEFAULT_READONLY_PATHS = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/**
 * AppArmor: no profile can be applied here. RuntimeDefault without AppArmor in the kernel
 * means "no profile", as containerd does; a specific profile cannot be honoured.
 */
export const refuseAppArmorProfile: SpecOption = (_spec, ctx) => {
  const sc = ctx.securityContext;
  if (!(sc?.apparmor && sc.apparmor.profile_type !== "Unconfined" || sc?.apparmor_profile)) {
    return;
  }
  const wanted = sc?.apparmor?.profile_type === "Localhost"
    ? `localhost/${sc.apparmor.localhost_ref}`
    : sc?.apparmor?.profile_type ?? sc?.apparmor_profile;
  if (wanted !== "RuntimeDefault" && wanted !== "runtime/default") {
    throw new InvalidArgumentError(
      `AppArmor profile "${wanted}" was requested, but this node's kernel has no AppArmor; ` +
        `drop the appArmorProfile from the pod spec or run it on a node with AppArmor`,
    );
  }
};

/** A seccomp request: the profile kind, and the file of a Localhost one. */
type SeccompRequest =
  | { kind: "none" }
  | { kind: "runtime-default" }
  | { kind: "localhost"; path: string };

/** The seccomp profile asked for, by the security profile or else the legacy path form. */
function seccompRequest(ctx: SpecContext): SeccompRequest {
  const prof = ctx.securityContext?.seccomp;
  const legacy = ctx.securityContext?.seccomp_profile_path ?? "";
  if (prof) {
    if (prof.profile_type === "Localhost") return { kind: "localhost", path: prof.localhost_ref };
    if (prof.profile_type === "RuntimeDefault") return { kind: "runtime-default" };
    return { kind: "none" };
  }
  if (!legacy || legacy === "unconfined") return { kind: "none" };
  if (legacy === "runtime/default" || legacy === "docker/default") {
    return { kind: "runtime-default" };
  }
  if (legacy.startsWith("localhost/")) {
    return { kind: "localhost", path: legacy.slice("localhost/".length) };
  }
  throw new InvalidArgumentError(
    `seccomp profile "${legacy}" is not understood; use runtime/default, unconfined or localhost/<path>`,
  );
}

/**
 * The profile asked for; none at all for a privileged container, whatever it asked for
 * (privileged means unconfined, as in containerd and CRI-O: neither even loads a Localhost
 * profile then).
 */
export const withSeccomp: SpecOption = (spec, ctx) => {
  const req = seccompRequest(ctx);
  if (ctx.privileged || req.kind === "none") spec.linux.seccomp = undefined;
  else if (req.kind === "runtime-default") {
    spec.linux.seccomp = defaultSeccompProfile(ctx.capabilities);
  } else spec.linux.seccomp = loadLocalhostProfile(req.path);
};

export const withNoNewPrivileges: SpecOption = (spec, ctx) => {
  spec.process.noNewPrivileges = !!ctx.securityContext?.no_new_privs;
};

/** The CRI lists, or the defaults when empty; privileged containers see everything. */
export const withMaskedPaths: SpecOption = (spec, ctx) => {
  const sc = ctx.securityContext;
  if (ctx.privileged) {
    spec.linux.maskedPaths = [];
    spec.linux.readonlyPaths = [];
    return;
  }
  spec.linux.maskedPaths = sc?.masked_paths?.length
    ? [...sc.masked_paths]
    : [...DEFAULT_MASKED_PATHS];
  spec.linux.readonlyPaths = sc?.readonly_paths?.length
    ? [...sc.readonly_paths]
    : [...DEFAULT_READONLY_PATHS];
};
