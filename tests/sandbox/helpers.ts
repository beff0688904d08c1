/**
 * Helpers for the sandbox tests: pod configs, commands run in a pod's pinned namespaces,
 * host resource snapshots for leak checks, and the teardown of a test's bridge and
 * iptables rules (CNI DEL leaves the bridge behind by design).
 */
import type { DeepPartial } from "../../cri/handler.ts";
import type { PodSandboxConfig } from "../../cri/types.ts";
import type { TestSkiff } from "../helpers/skiff.ts";
import { splitRule } from "../helpers/teardown.ts";
export { killPodProcesses, splitRule, teardownNetwork } from "../helpers/teardown.ts";

export const REQUIRED_BINARIES = [
  "unshare",
  "nsenter",
  "mount",
  "ip",
  "iptables",
  "sysctl",
  "busybox",
  "curl",
  "bridge",
  "host-local",
  "portmap",
  "loopback",
];

let podSeq = 0;

/** A pod config with its own PID namespace per container (no infra process) by default. */
export function podConfig(
  overrides: DeepPartial<PodSandboxConfig> & { pid?: "POD" | "CONTAINER" | "NODE" } = {},
): DeepPartial<PodSandboxConfig> {
  const n = ++podSeq;
  const { pid, ...rest } = overrides;
  return {
    metadata: { name: `pod${n}`, namespace: "test", uid: `uid-${n}-${crypto.randomUUID()}` },
    hostname: `pod${n}`,
    log_directory: "/tmp",
    labels: { app: "sandbox-test" },
    ...rest,
    linux: {
      ...rest.linux,
      security_context: {
        namespace_options: { network: "POD", pid: pid ?? "CONTAINER", ipc: "POD" },
        ...rest.linux?.security_context,
      },
    },
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cmd(
  argv: string[],
  opts: { timeoutMs?: number } = {},
): Promise<CommandResult> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    signal: AbortSignal.timeout(opts.timeoutMs ?? 20000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Runs argv inside a pod's network (and UTS) namespace by the pinned files. */
export async function inPod(
  nsPaths: { net?: string | null; uts?: string | null },
  argv: string[],
): Promise<CommandResult> {
  const args = ["nsenter"];
  if (nsPaths.net) args.push(`--net=${nsPaths.net}`);
  if (nsPaths.uts) args.push(`--uts=${nsPaths.uts}`);
  return await cmd([...args, "--", ...argv]);
}

export interface VerboseInfo {
  pid: number;
  namespaces: { net: string | null; ipc: string | null; uts: string | null };
  pidNamespace: string | null;
  shmPath: string | null;
  resolvConfPath: string;
  hostsPath: string;
  hostnamePath: string;
  ips: string[];
}

export async function verboseInfo(s: TestSkiff, id: string): Promise<VerboseInfo> {
  const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id, verbose: true });
  return JSON.parse(st.info.info) as VerboseInfo;
}

/** What a leak check compares before and after. */
export interface HostSnapshot {
  mounts: string[];
  nsFiles: string[];
  links: string[];
  ipam: string[];
  iptables: string[];
  processes: string[];
  skiffFds: number;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await listDir(dir)) {
    const p = `${dir}/${name}`;
    if (Deno.statSync(p).isDirectory) out.push(...(await listTree(p)).map((x) => `${name}/${x}`));
    else out.push(name);
  }
  return out;
}

/**
 * Processes that belong to this test's pods: any command line naming its state dir or
 * bridge, and pod infra processes (Skiff labels them with SKIFF_STATE_DIR in their env).
 */
async function podProcesses(s: TestSkiff): Promise<string[]> {
  const out: string[] = [];
  const label = `SKIFF_STATE_DIR=${s.stateDir}\0`;
  for (const name of await listDir("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await Deno.readTextFile(`/proc/${name}/cmdline`).catch(() => "");
    const environ = await Deno.readTextFile(`/proc/${name}/environ`).catch(() => "");
    if (environ.includes(label) || cmdline.includes(s.stateDir) || cmdline.includes(s.bridgeName)) {
      out.push(`${name}:${cmdline.replaceAll("\0", " ")}`);
    }
  }
  return out;
}

export async function snapshot(s: TestSkiff): Promise<HostSnapshot> {
  const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
  const mounts = mountinfo.split("\n").map((l) => l.split(" ")[4]).filter((m) =>
    m?.startsWith(s.dir)
  ).sort();
  // The host ends of pod veths: the links enslaved to this test's bridge.
  const links = (await cmd(["ip", "-o", "link", "show", "master", s.bridgeName])).stdout
    .split("\n").map((l) => l.split(":")[1]?.trim().split("@")[0])
    .filter((n): n is string => !!n).sort();
  const iptables: string[] = [];
  const prefix = s.subnet.split("/")[0].replace(/\.0$/, ".");
  for (const table of ["nat", "filter"]) {
    const rules = (await cmd(["iptables", "-w", "-t", table, "-S"])).stdout.split("\n");
    // Rules naming this test's subnet or bridge, plus every rule of the per-pod chains they
    // jump to (other tests on this machine have chains of their own, which are not ours).
    const mine = rules.filter((r) => r.includes(prefix) || r.includes(s.bridgeName));
    const chains = new Set<string>();
    for (const r of mine) {
      const argv = splitRule(r);
      const jump = argv[argv.indexOf("-j") + 1];
      if (argv.includes("-j") && jump.startsWith("CNI-") && !jump.startsWith("CNI-HOSTPORT")) {
        chains.add(jump);
      }
      if (argv[0] === "-A" && argv[1].startsWith("CNI-") && !argv[1].startsWith("CNI-HOSTPORT")) {
        chains.add(argv[1]);
      }
    }
    const ours = rules.filter((r) => mine.includes(r) || [...chains].some((c) => r.includes(c)));
    iptables.push(...ours.map((r) => `${table}:${r}`));
  }
  const fds = s.pid ? (await listDir(`/proc/${s.pid}/fd`)).length : 0;
  return {
    mounts,
    nsFiles: await listDir(`${s.stateDir}/ns`),
    links,
    ipam: (await listTree(`${s.rootDir}/cni/networks`)).filter((f) => !f.endsWith("lock")),
    iptables: iptables.sort(),
    processes: await podProcesses(s),
    skiffFds: fds,
  };
}

/** Stops and removes every pod and container the Skiff still lists, then tears down. */
export async function cleanupSkiff(s: TestSkiff): Promise<void> {
  await s.dispose();
}
