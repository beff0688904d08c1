/**
 * The OCI runtime spec (config.json) of a container, built from the image config and the
 * CRI ContainerConfig the way containerd builds it, so that Kubernetes users get what they
 * expect: the same argv, env, user, capabilities, masked paths, mounts and cgroup settings.
 *
 * Pure apart from the callbacks in `SpecHost` (device lookups, mount propagation of host
 * paths), so that every rule can be unit-tested without a container.
 */
import { withAnnotations } from "./annotations.ts";
import { capabilitySet, withCapabilities } from "./capabilities.ts";
import { refuseCdiDevices, withDevices } from "./devices.ts";
import { withMounts, withRoot } from "./mounts.ts";
import { checkUserNamespace, withHostname, withNamespaces, withSysctls } from "./namespaces.ts";
import { withProcess } from "./process.ts";
import { withCgroupsPath, withOomScoreAdj, withResources } from "./resources.ts";
import {
  refuseAppArmorProfile,
  withMaskedPaths,
  withNoNewPrivileges,
  withSeccomp,
} from "./security.ts";
import type { OciSpec, SpecContext, SpecInput, SpecOption } from "./types.ts";
import { withUser } from "./user.ts";

/**
 * The options in the order they run, which is the order their rules are checked in: the
 * first one broken is the error reported (capabilities are checked before any, when the
 * context is made).
 */
const SPEC_OPTIONS: readonly SpecOption[] = [
  withCapabilities,
  refuseAppArmorProfile,
  refuseCdiDevices,
  checkUserNamespace,
  withRoot,
  withMounts,
  withDevices,
  withNamespaces,
  withHostname,
  withSeccomp,
  withNoNewPrivileges,
  withMaskedPaths,
  withProcess,
  withUser,
  withOomScoreAdj,
  withAnnotations,
  withResources,
  withCgroupsPath,
  withSysctls,
];

function specContext(input: SpecInput): SpecContext {
  const securityContext = input.config.linux?.security_context ?? null;
  return {
    ...input,
    securityContext,
    privileged: !!securityContext?.privileged,
    capabilities: capabilitySet(securityContext, input.availableCapabilities),
  };
}

/**
 * An empty spec whose keys are in config.json's order (the options fill them in, and the
 * file stays the same byte for byte whichever option runs first). Optional keys hold their
 * place as undefined until set.
 */
function emptySpec(): OciSpec {
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0, additionalGids: [] },
      args: [],
      env: [],
      cwd: "/",
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      rlimits: [],
      noNewPrivileges: false,
      oomScoreAdj: 0,
    },
    root: { path: "", readonly: false },
    mounts: [],
    annotations: {},
    linux: {
      namespaces: [],
      resources: { devices: [] },
      cgroupsPath: "",
      devices: [],
      sysctl: {},
      maskedPaths: [],
      readonlyPaths: [],
      seccomp: undefined,
      rootfsPropagation: undefined,
    },
    hostname: undefined,
  };
}

/** Drops the optional keys no option set. */
function dropUnset(spec: OciSpec): OciSpec {
  if (spec.linux.seccomp === undefined) delete spec.linux.seccomp;
  if (spec.linux.rootfsPropagation === undefined) delete spec.linux.rootfsPropagation;
  if (spec.hostname === undefined) delete spec.hostname;
  return spec;
}

export function buildSpec(input: SpecInput): OciSpec {
  const ctx = specContext(input);
  const spec = emptySpec();
  for (const option of SPEC_OPTIONS) option(spec, ctx);
  return dropUnset(spec);
}
