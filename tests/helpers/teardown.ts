/**
 * The last line of defence after a test, pass or fail: everything a test's Skiff made is
 * removed — pods and containers (through CRI while Skiff answers, then directly), processes
 * that mention the test's dirs or live in its pinned namespaces, mounts, files, and the
 * test's bridge and iptables rules (CNI DEL leaves the bridge by design).
 */
import type { TestSkiff } from "./skiff.ts";

async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const out = await new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "null",
    }).output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
  } catch {
    return { code: -1, stdout: "" };
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) names.push(e.name);
  } catch {
    // absent: nothing to list
  }
  return names;
}

/** Stops and removes every container and pod the Skiff still lists. */
export async function removeAllThroughCri(s: TestSkiff): Promise<void> {
  if (!s.pid) return;
  const opts = { timeoutMs: 20000 };
  try {
    const { containers } = await s.client.call("ListContainers", {}, { timeoutMs: 5000 });
    for (const c of containers) {
      await s.client.call("StopContainer", { container_id: c.id, timeout: "0" }, opts)
        .catch(() => {});
      await s.client.call("RemoveContainer", { container_id: c.id }, opts).catch(() => {});
    }
  } catch {
    // not built, or Skiff is not answering: the direct clean-up below handles it
  }
  try {
    const { items } = await s.client.call("ListPodSandbox", {}, { timeoutMs: 5000 });
    for (const p of items) {
      await s.client.call("StopPodSandbox", { pod_sandbox_id: p.id }, opts).catch(() => {});
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: p.id }, opts).catch(() => {});
    }
  } catch {
    // as above
  }
}

/** Deletes containers left in the test's OCI runtime roots (a Skiff that died mid-test). */
export async function removeRuntimeLeftovers(s: TestSkiff): Promise<void> {
  const runtimesDir = `${s.stateDir}/runtimes`;
  for (const handler of await listDir(runtimesDir)) {
    const root = `${runtimesDir}/${handler}`;
    const list = await run(["runc", "--root", root, "list", "--format", "json"]);
    let entries: { id: string }[] = [];
    try {
      entries = JSON.parse(list.stdout || "[]") ?? [];
    } catch {
      entries = [];
    }
    for (const e of entries) await run(["runc", "--root", root, "delete", "--force", e.id]);
  }
}

/** Kills processes whose command line or environment mentions the test's directory. */
export async function killProcessesMentioning(dir: string): Promise<void> {
  const needle = new TextEncoder().encode(dir);
  const contains = (hay: Uint8Array) => {
    outer: for (let i = 0; i + needle.length <= hay.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  for (const pid of await listDir("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === Deno.pid) continue;
    for (const file of ["cmdline", "environ"]) {
      let data: Uint8Array;
      try {
        data = await Deno.readFile(`/proc/${pid}/${file}`);
      } catch {
        continue;
      }
      if (contains(data)) {
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
 * Removes the test's bridge and any iptables rule naming its bridge or subnet, plus the
 * per-pod chains they jump to. Safe to call when nothing was made.
 */
export async function teardownNetwork(s: TestSkiff): Promise<void> {
  // Without `bridge: true` the subnet is the default one, which is not the test's to clean.
  if (!s.opts.bridge) return;
  await run(["ip", "link", "del", s.bridgeName]);
  const prefix = s.subnet.split("/")[0].replace(/\.0$/, ".");
  for (const table of ["nat", "filter"]) {
    const rules = (await run(["iptables", "-w", "-t", table, "-S"])).stdout.split("\n");
    const chains = new Set<string>();
    for (const r of rules) {
      if (!r.startsWith("-A ")) continue;
      if (!r.includes(prefix) && !r.includes(s.bridgeName)) continue;
      const argv = splitRule(r.slice(3));
      const jump = argv[argv.indexOf("-j") + 1];
      if (jump?.startsWith("CNI-") && !jump.startsWith("CNI-HOSTPORT")) chains.add(jump);
      await run(["iptables", "-w", "-t", table, "-D", ...argv]);
    }
    for (const c of chains) {
      await run(["iptables", "-w", "-t", table, "-F", c]);
      await run(["iptables", "-w", "-t", table, "-X", c]);
    }
  }
}

/** Removes a test directory, unmounting anything still mounted below it first. */
export async function removeTree(dir: string): Promise<void> {
  try {
    const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
      .map((l) => l.split(" ")[4]?.replace(/\\040/g, " "))
      .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + "/")))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) await run(["umount", "-l", m]);
  } catch {
    // no mountinfo: nothing mounted by us either
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
