/** Real cgroups, busy processes and pinned network namespaces for the stats tests. */
import {
  type CgroupDirs,
  hostCgroupMounts,
  hostCgroupVersion,
  locate,
} from "../../runtime/stats/mod.ts";
import { isRoot } from "../helpers/env.ts";

/** Null when v1 cgroups can be made here; else what is missing. */
export function v1Missing(): string | null {
  if (!isRoot()) return "root";
  const mounts = hostCgroupMounts();
  if (hostCgroupVersion(mounts) !== 1) return "cgroup v1 (this host runs v2; v2 is fixture-tested)";
  for (const c of ["cpuacct", "memory", "pids"]) if (!mounts.v1.has(c)) return `v1 ${c} controller`;
  return null;
}

const CONTROLLERS = ["cpu", "cpuacct", "memory", "pids"];

export interface TestCgroup {
  rel: string;
  dirs: CgroupDirs;
  procsFiles: string[];
  remove(): Promise<void>;
}

/** Creates `rel` under every v1 controller (parents too); remove() takes it all away. */
export async function makeCgroup(rel: string): Promise<TestCgroup> {
  const mounts = hostCgroupMounts();
  const made: string[] = [];
  const procsFiles: string[] = [];
  const remove = async () => {
    for (const d of made.reverse()) {
      // The memory cgroup may stay busy for a moment after its last task exits.
      for (let i = 0; i < 50; i++) {
        try {
          await Deno.remove(d);
          break;
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) break;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  };
  try {
    // The hybrid v2 twin too: runc puts containers there, and it carries the PSI files.
    for (const c of [...CONTROLLERS, "unified"]) {
      const root = c === "unified" ? mounts.v2 : mounts.v1.get(c);
      if (!root) continue;
      const parts = rel.split("/").filter(Boolean);
      let path = root;
      for (const p of parts) {
        path += `/${p}`;
        if (made.includes(path)) continue;
        try {
          await Deno.mkdir(path);
          made.push(path);
        } catch (err) {
          if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        }
      }
      if (!procsFiles.includes(`${path}/cgroup.procs`)) procsFiles.push(`${path}/cgroup.procs`);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { rel, dirs: locate(rel, mounts), procsFiles, remove };
}

/** Allocates and touches `mib` MiB, says "ready", then burns one core until stdin closes. */
function hogScript(mib: number): string {
  return `
const hold = new Uint8Array(${mib} * 1024 * 1024).fill(7);
console.log("ready");
let stop = false;
(async () => { for await (const _ of Deno.stdin.readable) {} stop = true; })();
while (!stop) {
  const until = Date.now() + 50;
  let x = 0;
  while (Date.now() < until) x += Math.sqrt(x + hold[x % hold.length]);
  await new Promise((r) => setTimeout(r, 0));
}
`;
}

export interface Hog {
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts a process that joins the given cgroup.procs files (and optionally a network
 * namespace) before it allocates, so every page it touches is charged there.
 */
export async function startHog(
  procsFiles: string[],
  opts: { mib?: number; netns?: string } = {},
): Promise<Hog> {
  const join = 'for f in "$@"; do echo $$ > "$f" || exit 1; done; exec "$DENO" eval "$HOG"';
  const args = ["-c", join, "sh", ...procsFiles];
  const cmd = opts.netns ? "nsenter" : "sh";
  const argv = opts.netns ? [`--net=${opts.netns}`, "sh", ...args] : args;
  const child = new Deno.Command(cmd, {
    args: argv,
    env: { DENO: Deno.execPath(), HOG: hogScript(opts.mib ?? 64), NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = async () => {
    await child.stdin.close().catch(() => {});
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  };
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("ready")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`hog exited before allocating: ${out}`);
      out += value;
    }
    reader.releaseLock();
    child.stdout.cancel().catch(() => {});
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid, stop };
}

export async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Pins a new network namespace at `file` with lo up and an eth0/peer0 veth pair inside. */
export async function makeNetns(file: string): Promise<void> {
  await Deno.writeTextFile(file, "");
  await run("unshare", `--net=${file}`, "true");
  const ns = (...a: string[]) => run("nsenter", `--net=${file}`, ...a);
  await ns("ip", "link", "set", "lo", "up");
  await ns("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
  await ns("ip", "addr", "add", "169.254.77.1/30", "dev", "eth0");
  await ns("ip", "addr", "add", "169.254.77.2/30", "dev", "peer0");
  await ns("ip", "link", "set", "eth0", "up");
  await ns("ip", "link", "set", "peer0", "up");
}
