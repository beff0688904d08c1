/**
 * The capabilities of a container: containerd's default set, changed by the CRI adds and
 * drops, bounded by what Skiff itself holds.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { LinuxContainerSecurityContext } from "../model.ts";
import type { SpecOption } from "./types.ts";
import { CAPABILITY_NAMES } from "../../linux/capabilities.ts";

/** containerd's default set. */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Every capability up to CAP_CHECKPOINT_RESTORE (40), in kernel order. */
export const ALL_CAPABILITIES: readonly string[] = CAPABILITY_NAMES;

function normalizeCap(c: string): string {
  const u = c.toUpperCase();
  return u === "ALL" ? "ALL" : u.startsWith("CAP_") ? u : `CAP_${u}`;
}

/**
 * Default set, then drops, then adds; `ALL` in either list means every capability.
 * `available` is Skiff's own bounding set: `ALL` and privileged give what is available
 * (as containerd does), and asking by name for one Skiff lacks is an error saying so.
 */
export function capabilitySet(
  sc: LinuxContainerSecurityContext | null | undefined,
  available: readonly string[] = ALL_CAPABILITIES,
): string[] {
  const all = ALL_CAPABILITIES.filter((c) => available.includes(c));
  if (sc?.privileged) return all;
  const add = (sc?.capabilities?.add_capabilities ?? []).map(normalizeCap);
  const drop = (sc?.capabilities?.drop_capabilities ?? []).map(normalizeCap);
  let caps = add.includes("ALL") ? [...all] : [...DEFAULT_CAPABILITIES];
  if (drop.includes("ALL")) caps = [];
  for (const d of drop) caps = caps.filter((c) => c !== d);
  for (const a of add) if (a !== "ALL" && !caps.includes(a)) caps.push(a);
  for (const c of caps) {
    if (!ALL_CAPABILITIES.includes(c)) {
      throw new InvalidArgumentError(
        `unknown capability ${c}; valid names look like CAP_NET_ADMIN`,
      );
    }
    if (!available.includes(c)) {
      throw new InvalidArgumentError(
        `capability ${c} was requested, but Skiff itself does not hold it on this node, so no container can get it`,
      );
    }
  }
  return caps;
}

/** Bounding, effective and permitted are the container's set; ambient as asked. */
export const withCapabilities: SpecOption = (spec, ctx) => {
  const caps = ctx.capabilities;
  spec.process.capabilities = {
    bounding: caps,
    effective: caps,
    permitted: caps,
    inheritable: [],
    ambient: (ctx.securityContext?.capabilities?.add_ambient_capabilities ?? []).map(normalizeCap),
  };
};
