/**
 * Network interface counters of a network namespace, from `/proc/net/dev` as seen inside
 * it: directly through `/proc/<pid>/net/dev` when a process lives in the namespace, or by
 * running `nsenter --net=<pinned file> cat /proc/net/dev` for pods without one (Skiff pins
 * pod namespaces to files and runs no pause process). Skiff itself never enters a
 * namespace: setns acts on one thread of a multi-threaded process.
 */
import type { InterfaceCounters } from "./types.ts";

/** Parses `/proc/net/dev`. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16 || f.some((x) => !Number.isFinite(x))) continue;
    out.push({
      name,
      rxBytes: f[0],
      rxPackets: f[1],
      rxErrors: f[2],
      rxDropped: f[3],
      txBytes: f[8],
      txPackets: f[9],
      txErrors: f[10],
      txDropped: f[11],
    });
  }
  return out;
}

/** Counters of every interface in the namespace of a live process (null once it exited). */
export async function netDevOfPid(pid: number): Promise<InterfaceCounters[] | null> {
  try {
    return parseNetDev(await Deno.readTextFile(`/proc/${pid}/net/dev`));
  } catch {
    return null;
  }
}

/** Counters of every interface in the namespace pinned at `netnsPath`. */
export async function netDevOfNetns(netnsPath: string): Promise<InterfaceCounters[]> {
  const out = await new Deno.Command("nsenter", {
    args: [`--net=${netnsPath}`, "cat", "/proc/net/dev"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`reading interfaces of network namespace ${netnsPath}: ${err}`);
  }
  return parseNetDev(new TextDecoder().decode(out.stdout));
}

/**
 * The interface kubelet reports as the pod's: `eth0` when present (what CNI names the pod
 * side), else the first non-loopback one.
 */
export function defaultInterface(ifaces: InterfaceCounters[]): InterfaceCounters | null {
  return ifaces.find((i) => i.name === "eth0") ?? ifaces.find((i) => i.name !== "lo") ?? null;
}

/**
 * Every interface of a pod's namespace, the default one first: what CRI's
 * `NetworkUsage.interfaces` carries (cAdvisor's summary lists them all, the default too).
 */
export function interfacesDefaultFirst(ifaces: InterfaceCounters[]): InterfaceCounters[] {
  const def = defaultInterface(ifaces);
  return def ? [def, ...ifaces.filter((i) => i !== def)] : [...ifaces];
}
