/**
 * Linux capabilities: their names by bit number, and which ones this process holds (from
 * /proc/self/status, so no capget(2) binding is needed).
 */

/** Capability names, indexed by bit number (linux/capability.h). */
export const CAPABILITY_NAMES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** The hexadecimal mask of one capability set line (`CapEff`, `CapBnd`…) of a status text. */
export function capabilityMask(status: string, set: "CapEff" | "CapBnd"): bigint {
  const m = new RegExp(`^${set}:\\s*([0-9a-f]+)$`, "m").exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** The names of the capabilities set in `mask` (bits Linux has no name for are left out). */
export function capabilitiesInMask(mask: bigint): string[] {
  return CAPABILITY_NAMES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
}

let boundingCache: string[] | undefined;

/** The capabilities in Skiff's own bounding set, by name: all a child can ever get. */
export function ownBoundingCapabilities(): string[] {
  boundingCache ??= capabilitiesInMask(
    capabilityMask(Deno.readTextFileSync("/proc/self/status"), "CapBnd"),
  );
  return boundingCache;
}

/** Whether Skiff holds capability `name` (e.g. "CAP_SYS_RESOURCE") in its effective set. */
export function hasCapability(name: string): boolean {
  const bit = CAPABILITY_NAMES.indexOf(name);
  if (bit < 0) return false;
  try {
    const mask = capabilityMask(Deno.readTextFileSync("/proc/self/status"), "CapEff");
    return ((mask >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}
