/**
 * A private containerd (Debian's 1.6.x) with its CRI plugin, for the side-by-side bench: its
 * own root/state dirs, socket, runc root, CNI conf dir (the same bridge conflist Skiff's
 * built-in network uses, with a bridge name and subnet of its own), a pause-like sandbox
 * image from the local registry, runc with cgroupfs. Removes everything it made — shims,
 * containers, mounts, netns, bridge, iptables rules, files — pass or fail.
 */
import { CriClient } from "../../cri/client.ts";
import { defaultBridgeNetwork } from "../../network/cni.ts";
import { makeTempDir, uniqueBridgeName, uniqueSubnet } from "../../tests/helpers/env.ts";
import { killProcessesMentioning, removeTree } from "../../tests/helpers/teardown.ts";
import { run, teardownBridge } from "./host.ts";

export const CONTAINERD = "/usr/bin/containerd";
export const CONTAINERD_SHIM = "containerd-shim-runc-v2";

/** Where containerd 1.6's CRI plugin pins pod network namespaces (not configurable). */
const NETNS_DIR = "/var/run/netns";

/** Why containerd can't run here (with how to fix it), or null when it can. */
export function containerdMissing(): string | null {
  try {
    Deno.statSync(CONTAINERD);
    Deno.statSync(`/usr/bin/${CONTAINERD_SHIM}`);
    return null;
  } catch {
    return `containerd is not installed (the bench compares Skiff against it): run ` +
      `\`scripts/setup bench\`, which installs the bench's Debian packages and runs the bench, ` +
      `or \`apt-get install containerd\``;
  }
}

export interface ContainerdOptions {
  /** Image reference of the sandbox ("pause") image, on the local registry. */
  sandboxImage: string;
  /** `127.0.0.1:<port>` of the local plain-HTTP registry. */
  registryHost: string;
}

export class BenchContainerd {
  readonly socket: string;
  readonly rootDir: string;
  readonly stateDir: string;
  readonly runcRoot: string;
  readonly cniConfDir: string;
  readonly ipamDir: string;
  readonly configPath: string;
  readonly logFile: string;
  readonly bridgeName: string;
  readonly subnet: string;
  private child?: Deno.ChildProcess;
  private pumps?: Promise<unknown>;
  private clientInstance?: CriClient;
  private netnsBefore = new Set<string>();

  private constructor(readonly dir: string, readonly opts: ContainerdOptions) {
    this.socket = `${dir}/containerd.sock`;
    this.rootDir = `${dir}/root`;
    this.stateDir = `${dir}/state`;
    this.runcRoot = `${dir}/runc`;
    this.cniConfDir = `${dir}/net.d`;
    this.ipamDir = `${dir}/ipam`;
    this.configPath = `${dir}/config.toml`;
    this.logFile = `${dir}/containerd.log`;
    this.bridgeName = uniqueBridgeName();
    this.subnet = uniqueSubnet();
  }

  static async create(opts: ContainerdOptions): Promise<BenchContainerd> {
    const c = new BenchContainerd(await makeTempDir("containerd"), opts);
    await Deno.mkdir(c.cniConfDir, { recursive: true });
    const conflist = defaultBridgeNetwork({
      bridgeName: c.bridgeName,
      subnet: c.subnet,
      ipamDataDir: c.ipamDir,
    });
    await Deno.writeTextFile(
      `${c.cniConfDir}/10-bench.conflist`,
      JSON.stringify(
        { cniVersion: conflist.cniVersion, name: conflist.name, plugins: conflist.plugins },
        null,
        2,
      ),
    );
    await Deno.writeTextFile(c.configPath, c.configToml());
    return c;
  }

  configToml(): string {
    const cri = `plugins."io.containerd.grpc.v1.cri"`;
    const reg = this.opts.registryHost;
    return `version = 2
root = "${this.rootDir}"
state = "${this.stateDir}"
# No /opt/containerd, no snapshotters this machine can't use.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "${this.socket}"

[ttrpc]
  address = "${this.socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[${cri}]
  sandbox_image = "${this.opts.sandboxImage}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # root here lacks CAP_SYS_RESOURCE: a negative oom_score_adj would fail every container.
  restrict_oom_score_adj = true
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  BinaryName = "runc"
  Root = "${this.runcRoot}"
  SystemdCgroup = false

[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${this.cniConfDir}"
  max_conf_num = 1

[${cri}.registry.mirrors."${reg}"]
  endpoint = ["http://${reg}"]

[${cri}.registry.configs."${reg}".tls]
  insecure_skip_verify = true
`;
  }

  get client(): CriClient {
    this.clientInstance ??= new CriClient(this.socket);
    return this.clientInstance;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts containerd and waits until its CRI answers with the network ready. */
  async start(timeoutMs = 30000): Promise<void> {
    this.netnsBefore = new Set(listNetns());
    const log = await Deno.open(this.logFile, { append: true, create: true, write: true });
    this.child = new Deno.Command(CONTAINERD, {
      args: ["--config", this.configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (r: ReadableStream<Uint8Array>) => {
      for await (const chunk of r) await log.write(chunk).catch(() => {});
    };
    this.pumps = Promise.all([pump(this.child.stdout), pump(this.child.stderr)]).finally(() =>
      log.close()
    );
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        const st = await this.client.call("Status", {}, { timeoutMs: 1000 });
        const notReady = st.status?.conditions.filter((c) => !c.status) ?? [];
        if (notReady.length === 0) return;
        last = notReady.map((c) => `${c.type}: ${c.reason} ${c.message}`).join("; ");
      } catch (e) {
        last = String(e);
      }
      const exited = await Promise.race([
        this.child.status,
        new Promise<null>((r) => setTimeout(() => r(null), 100)),
      ]);
      if (exited) {
        throw new Error(`containerd exited with ${exited.code} at start:\n${await this.log()}`);
      }
    }
    throw new Error(
      `containerd's CRI was not ready within ${timeoutMs} ms (${last}):\n${await this.log()}`,
    );
  }

  async log(): Promise<string> {
    return (await Deno.readTextFile(this.logFile).catch(() => "")).slice(-4000);
  }

  /** PIDs of this containerd's shims (they name its socket on their command line). */
  shimPids(): number[] {
    return pidsWhoseCmdlineHas(CONTAINERD_SHIM, this.socket);
  }

  /** CNI netns pinned since this containerd started (containerd is the only one making them). */
  leftoverNetns(): string[] {
    return listNetns().filter((n) => n.startsWith("cni-") && !this.netnsBefore.has(n));
  }

  /**
   * Removes everything this containerd made: pods through CRI while it answers, then
   * containerd, its shims and leftover runc containers, mounts, netns, files, and the
   * bridge and iptables rules. Call it in `finally`.
   */
  async dispose(): Promise<void> {
    if (this.child) {
      await removeAllPods(this.client);
      this.clientInstance?.close();
      this.clientInstance = undefined;
      try {
        this.child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          this.child?.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 10000);
      await this.child.status;
      clearTimeout(timer);
      await this.pumps;
      this.child = undefined;
    }
    // Shims outlive containerd by design: their containers first, then them.
    const list = await run([
      "runc",
      "--root",
      `${this.runcRoot}/k8s.io`,
      "list",
      "--format",
      "json",
    ]);
    let entries: { id: string }[] = [];
    try {
      entries = JSON.parse(list.stdout || "[]") ?? [];
    } catch {
      entries = [];
    }
    for (const e of entries) {
      await run(["runc", "--root", `${this.runcRoot}/k8s.io`, "delete", "--force", e.id]);
    }
    await killProcessesMentioning(this.dir);
    // Network namespaces the CRI plugin pinned and did not remove (a failed run).
    for (const name of this.leftoverNetns()) {
      await run(["umount", `${NETNS_DIR}/${name}`]);
      await Deno.remove(`${NETNS_DIR}/${name}`).catch(() => {});
    }
    await removeTree(this.dir);
    await teardownBridge(this.bridgeName, this.subnet);
  }
}

/** Stops and removes every pod (and so every container) the runtime lists. */
export async function removeAllPods(client: CriClient): Promise<void> {
  const opts = { timeoutMs: 30000 };
  try {
    const { containers } = await client.call("ListContainers", {}, { timeoutMs: 5000 });
    for (const c of containers) {
      await client.call("StopContainer", { container_id: c.id, timeout: "0" }, opts)
        .catch(() => {});
      await client.call("RemoveContainer", { container_id: c.id }, opts).catch(() => {});
    }
    const { items } = await client.call("ListPodSandbox", {}, { timeoutMs: 5000 });
    for (const p of items) {
      await client.call("StopPodSandbox", { pod_sandbox_id: p.id }, opts).catch(() => {});
      await client.call("RemovePodSandbox", { pod_sandbox_id: p.id }, opts).catch(() => {});
    }
  } catch {
    // not answering: the direct clean-up handles what is left
  }
}

function listNetns(): string[] {
  try {
    return [...Deno.readDirSync(NETNS_DIR)].map((e) => e.name);
  } catch {
    return [];
  }
}

/** PIDs whose command line contains every one of `needles`. */
export function pidsWhoseCmdlineHas(...needles: string[]): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let cmdline: string;
    try {
      cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (needles.every((n) => cmdline.includes(n))) out.push(Number(e.name));
  }
  return out;
}
