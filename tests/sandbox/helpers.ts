/**
 * Helpers for the sandbox tests: pod configs, commands run in a pod's pinned namespaces,
 * host resource snapshots for leak checks, and the teardown of a test's bridge and
 * iptables rules (CNI DEL leaves the bridge behind by design).
 */
import type { DeepPartial } from "../../cri/handler.ts";
import type { PodSandboxConfig } from "../../cri/types.ts";
import type { TestSkiff } from "../helpers/skiff.ts";

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

/** Splits an `iptables -S` line into argv (double quotes, backslash escapes inside them). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inQuote = false;
  let has = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inQuote && c === "\\" && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === '"') {
      inQuote = !inQuote;
      has = true;
    } else if (c === " " && !inQuote) {
      if (has) out.push(cur);
      cur = "";
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

/**
 * Removes what CNI DEL leaves by design (the test's bridge) and, after a failed test, any
 * iptables rule naming its bridge or subnet plus the per-pod chains they jump to. Safe to
 * call when nothing was made.
 */
export async function teardownNetwork(s: TestSkiff): Promise<void> {
  // Without `bridge: true` the subnet is the default one, which is not the test's to clean.
  if (!s.opts.bridge) return;
  await cmd(["ip", "link", "del", s.bridgeName]);
  const prefix = s.subnet.split("/")[0].replace(/\.0$/, ".");
  for (const table of ["nat", "filter"]) {
    const rules = (await cmd(["iptables", "-w", "-t", table, "-S"])).stdout.split("\n");
    const chains = new Set<string>();
    for (const r of rules) {
      if (!r.startsWith("-A ")) continue;
      if (!r.includes(prefix) && !r.includes(s.bridgeName)) continue;
      const argv = splitRule(r.slice(3));
      const jump = argv[argv.indexOf("-j") + 1];
      if (jump?.startsWith("CNI-") && !jump.startsWith("CNI-HOSTPORT")) chains.add(jump);
      await cmd(["iptables", "-w", "-t", table, "-D", ...argv]);
    }
    for (const c of chains) {
      await cmd(["iptables", "-w", "-t", table, "-F", c]);
      await cmd(["iptables", "-w", "-t", table, "-X", c]);
    }
  }
}

/** Stops and removes every pod the Skiff still lists (after a failed test), then tears down. */
export async function cleanupSkiff(s: TestSkiff): Promise<void> {
  if (s.pid) {
    try {
      const { items } = await s.client.call("ListPodSandbox", {}, { timeoutMs: 5000 });
      for (const p of items) {
        await s.client.call("StopPodSandbox", { pod_sandbox_id: p.id }, { timeoutMs: 20000 })
          .catch(() => {});
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: p.id }, { timeoutMs: 20000 })
          .catch(() => {});
      }
    } catch {
      // Skiff is not answering: dispose unmounts what is left.
    }
  }
  await killPodProcesses(s);
  await s.dispose();
  await teardownNetwork(s);
}

/**
 * Kills processes living in the test's pinned namespaces (infra processes of pods a dead
 * Skiff could not stop), found by namespace inode.
 */
export async function killPodProcesses(s: TestSkiff): Promise<void> {
  const inodes = new Set<string>();
  for (const name of await listDir(`${s.stateDir}/ns`)) {
    try {
      const kind = name.slice(name.lastIndexOf("-") + 1);
      inodes.add(`${kind}:[${Deno.statSync(`${s.stateDir}/ns/${name}`).ino}]`);
    } catch {
      // gone meanwhile
    }
  }
  if (inodes.size === 0) return;
  for (const pid of await listDir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    for (const kind of ["net", "ipc", "uts"]) {
      let link = "";
      try {
        link = Deno.readLinkSync(`/proc/${pid}/ns/${kind}`);
      } catch {
        continue;
      }
      if (inodes.has(link)) {
        try {
          Deno.kill(Number(pid), "SIGKILL");
        } catch {
          // already gone
        }
        break;
      }
    }
  }
}
