/**
 * A real container runtime for the runtime-layer tests: a ContainerService on a temp store
 * and temp dirs, a busybox image layer built from busybox-static, and a pod "sandbox" whose
 * network, IPC and UTS namespaces are really created and pinned with util-linux `unshare`.
 * The image and sandbox providers are plain objects over these real files; everything the
 * containers do runs through real conmon, runc and overlayfs.
 */
import { type Config, defaultConfig } from "../../core/config/mod.ts";
import { configureLogging, logger } from "../../core/log.ts";
import type { ContainerConfig } from "../../cri/types.ts";
import type {
  ContainerEvent,
  ImageForContainer,
  ImageRuntimeConfig,
  SandboxForContainer,
} from "../../runtime/contracts.ts";
import { ContainerService } from "../../runtime/container/mod.ts";
import { Store } from "../../store/mod.ts";
import { removeTree } from "../helpers/skiff.ts";
import { makeTempDir, missingPrerequisites, randomHex } from "../helpers/env.ts";

export const BUSYBOX = "/bin/busybox";

export function runtimePrerequisitesMissing(): string | null {
  const missing = missingPrerequisites({ root: true, binaries: ["runc", "conmon", "unshare"] });
  if (missing) return missing;
  try {
    Deno.statSync(BUSYBOX);
    return null;
  } catch {
    const reason = `missing prerequisites: ${BUSYBOX} (busybox-static)`;
    console.error(`\n!!! SKIPPING: ${reason} !!!\n`);
    return reason;
  }
}

const APPLETS = [
  "sh",
  "ls",
  "cat",
  "echo",
  "id",
  "sleep",
  "true",
  "false",
  "mkdir",
  "touch",
  "grep",
  "head",
  "hostname",
  "printf",
  "pwd",
  "env",
  "stat",
  "mount",
  "umount",
  "unshare",
  "nc",
  "wc",
  "dd",
  "tail",
  "kill",
  "ps",
  "test",
  "rm",
  "seq",
  "trap",
  "yes",
  "readlink",
  "tr",
  "cut",
];

/** Writes a busybox rootfs (one layer) with users and groups to resolve names against. */
export async function buildBusyboxLayer(dir: string): Promise<void> {
  for (const d of ["bin", "etc", "tmp", "root", "home/app", "proc", "sys", "dev"]) {
    await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${dir}/tmp`, 0o1777);
  await Deno.copyFile(BUSYBOX, `${dir}/bin/busybox`);
  await Deno.chmod(`${dir}/bin/busybox`, 0o755);
  for (const a of APPLETS) await Deno.symlink("busybox", `${dir}/bin/${a}`);
  await Deno.writeTextFile(
    `${dir}/etc/passwd`,
    [
      "root:x:0:0:root:/root:/bin/sh",
      "app:x:1000:1000:app:/home/app:/bin/sh",
      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false",
    ].join("\n") + "\n",
  );
  await Deno.writeTextFile(
    `${dir}/etc/group`,
    ["root:x:0:", "app:x:1000:", "extra:x:2000:app", "other:x:3000:root,app", "nogroup:x:65534:"]
      .join("\n") + "\n",
  );
}

export interface PodFixture {
  sandbox: SandboxForContainer;
}

export class RuntimeFixture {
  readonly events: ContainerEvent[] = [];
  readonly images = new Map<string, ImageForContainer>();
  readonly sandboxes = new Map<string, SandboxForContainer>();
  service!: ContainerService;
  store!: Store;
  readonly config: Config;

  private constructor(readonly dir: string) {
    this.config = defaultConfig();
    this.config.root_dir = `${dir}/root`;
    this.config.state_dir = `${dir}/state`;
  }

  static async create(): Promise<RuntimeFixture> {
    configureLogging({ level: "error" });
    const f = new RuntimeFixture(await makeTempDir("ctr"));
    await buildBusyboxLayer(`${f.dir}/layer`);
    f.addImage("busybox", { Cmd: ["sh"] });
    await f.open();
    return f;
  }

  /** Registers an image over the busybox layer with its own config. */
  addImage(name: string, config: ImageRuntimeConfig): ImageForContainer {
    const img: ImageForContainer = {
      id: `sha256:${randomHex(64)}`,
      repoTags: [`test/${name}:1`],
      repoDigests: [`test/${name}@sha256:${randomHex(64)}`],
      config,
      layerDirs: [`${this.dir}/layer`],
    };
    this.images.set(name, img);
    return img;
  }

  /** Opens (or re-opens, as a restarted Skiff would) the store and the service. */
  async open(): Promise<void> {
    this.store = new Store(`${this.dir}/root/skiff.db`);
    this.service = new ContainerService({
      config: this.config,
      store: this.store,
      images: {
        findImage: (ref) =>
          this.images.get(ref) ?? [...this.images.values()].find((i) => i.id === ref),
      },
      sandboxes: { getSandbox: (id) => this.sandboxes.get(id) },
      log: logger("test"),
      events: { publish: (e) => this.events.push(e) },
    });
    await this.service.recover();
  }

  /**
   * Waits until removed containers' leftovers are gone (the service's cleanup queue is
   * empty); fails the test instead of hanging if they never go.
   */
  async cleanupsDrained(ms = 10_000): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`cleanups not drained in ${ms} ms`)), ms);
    });
    try {
      await Promise.race([this.service.cleanupsDrained(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Drops the service without stopping anything, as a SIGKILLed Skiff would. */
  crash(): void {
    this.service.close();
    this.store.close();
  }

  /** A pod with its own pinned net/ipc/uts namespaces and pod files. */
  async pod(
    opts: { hostname?: string; sharePid?: boolean; privileged?: boolean } = {},
  ): Promise<SandboxForContainer> {
    const id = randomHex(64);
    const pdir = `${this.dir}/pods/${id.slice(0, 12)}`;
    await Deno.mkdir(`${pdir}/logs`, { recursive: true });
    const hostname = opts.hostname ?? `pod-${id.slice(0, 6)}`;
    for (const ns of ["net", "ipc", "uts"]) await Deno.writeTextFile(`${pdir}/${ns}`, "");
    const out = await new Deno.Command("unshare", {
      args: [
        `--net=${pdir}/net`,
        `--ipc=${pdir}/ipc`,
        `--uts=${pdir}/uts`,
        "sh",
        "-c",
        'hostname "$1" && ip link set lo up',
        "sh",
        hostname,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`unshare: ${new TextDecoder().decode(out.stderr)}`);
    await Deno.writeTextFile(`${pdir}/hosts`, `127.0.0.1 localhost\n10.0.0.1 ${hostname}\n`);
    await Deno.writeTextFile(`${pdir}/resolv.conf`, "nameserver 10.0.0.53\nsearch test.local\n");
    await Deno.writeTextFile(`${pdir}/hostname`, `${hostname}\n`);
    const sb: SandboxForContainer = {
      id,
      name: "pod",
      namespace: "default",
      uid: id.slice(0, 8),
      state: "SANDBOX_READY",
      runtimeHandler: "runc",
      netnsPath: `${pdir}/net`,
      ipcnsPath: `${pdir}/ipc`,
      utsnsPath: `${pdir}/uts`,
      pidnsPath: null,
      hostNetwork: false,
      hostIpc: false,
      hostPid: false,
      privileged: opts.privileged ?? false,
      hostname,
      resolvConfPath: `${pdir}/resolv.conf`,
      hostsPath: `${pdir}/hosts`,
      hostnamePath: `${pdir}/hostname`,
      shmPath: null,
      cgroupParent: `/skiff-test-${id.slice(0, 8)}`,
      logDirectory: `${pdir}/logs`,
      sysctls: {},
      labels: {},
      annotations: {},
    };
    this.sandboxes.set(id, sb);
    return sb;
  }

  /** Creates and starts a container; returns its ID. */
  async run(sb: SandboxForContainer, config: Partial<ContainerConfig>): Promise<string> {
    const id = await this.service.create(sb.id, containerConfig(config));
    await this.service.start(id);
    return id;
  }

  /** Waits until the container exits (or the time runs out) and returns its record. */
  async waitExited(id: string, ms = 10000) {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const r = this.service.get(id);
      if (r.state === "CONTAINER_EXITED") return r;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`container ${id} did not exit within ${ms} ms`);
  }

  /** The container's CRI log file. */
  async logOf(id: string): Promise<string> {
    return await Deno.readTextFile(this.service.get(id).logPath).catch(() => "");
  }

  /** stdout text of the container's log (CRI format stripped). */
  async stdoutOf(id: string): Promise<string> {
    return criLogText(await this.logOf(id), "stdout");
  }

  /** Runs a container to completion; returns its stdout and exit code. */
  async runToExit(sb: SandboxForContainer, config: Partial<ContainerConfig>) {
    const id = await this.run(sb, config);
    const rec = await this.waitExited(id);
    return { id, rec, stdout: await this.stdoutOf(id) };
  }

  async dispose(): Promise<void> {
    try {
      for (const r of this.service.list()) await this.service.remove(r.id).catch(() => {});
      await this.cleanupsDrained();
    } finally {
      this.crash();
      for (const sb of this.sandboxes.values()) {
        for (const p of [sb.netnsPath, sb.ipcnsPath, sb.utsnsPath]) {
          if (p) await new Deno.Command("umount", { args: [p], stderr: "null" }).output();
        }
        await removeCgroup(sb.cgroupParent);
      }
      await removeTree(this.dir);
    }
  }
}

let counter = 0;
export function containerConfig(c: Partial<ContainerConfig>): ContainerConfig {
  const name = c.metadata?.name ?? `c${++counter}`;
  return {
    metadata: { name, attempt: 0 },
    image: {
      image: "busybox",
      annotations: {},
      user_specified_image: "",
      runtime_handler: "",
      image_ref: "",
    },
    command: [],
    args: [],
    working_dir: "",
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: `${name}/0.log`,
    stdin: false,
    stdin_once: false,
    tty: false,
    CDI_devices: [],
    stop_signal: "RUNTIME_DEFAULT",
    ...c,
  };
}

/** The text of one stream of a CRI log, partial lines joined. */
export function criLogText(log: string, stream: "stdout" | "stderr"): string {
  let out = "";
  for (const line of log.split("\n")) {
    const m = /^(\S+) (stdout|stderr) ([PF]) ?([\s\S]*)$/.exec(line);
    if (!m || m[2] !== stream) continue;
    out += m[4] + (m[3] === "F" ? "\n" : "");
  }
  return out;
}

/** Removes a test pod's cgroup directories under every v1 hierarchy. */
export async function removeCgroup(parent: string): Promise<void> {
  let hierarchies: string[] = [];
  try {
    hierarchies = [...Deno.readDirSync("/sys/fs/cgroup")].map((e) => `/sys/fs/cgroup/${e.name}`);
  } catch {
    return;
  }
  for (const h of hierarchies) {
    const dir = `${h}${parent}`;
    try {
      for (const e of Deno.readDirSync(dir)) {
        if (e.isDirectory && e.name.startsWith("skiff-")) {
          await Deno.remove(`${dir}/${e.name}`).catch(() => {});
        }
      }
      await Deno.remove(dir);
    } catch { /* not there */ }
  }
}

/** A CRI env entry (its value is `bytes` on the wire). */
export function kv(key: string, value: string) {
  return { key, value: new TextEncoder().encode(value) };
}
