/**
 * A real kubelet (v1.32.10, standalone, static pods) for the end-to-end suite, pointed only at
 * a private TestSkiff: its own root and cert dirs, ports, cgroup root, manifest dir and node
 * name, plain HTTP on 127.0.0.1. `cleanupHost()` stops it and removes what it made outside its
 * root dir (its cgroups, /var/log/pods and /var/log/containers entries of this run, and
 * /var/lib/kubelet/device-plugins or /usr/libexec/kubernetes when this run created them).
 *
 * The binary: `$SKIFF_KUBELET`, else `../shared/tools/kubelet/kubelet.gz` beside the clone
 * (unpacked to a temp dir); the /exec and /portForward client likewise from
 * `$SKIFF_KUBELET_STREAM` or `kubelet-stream.gz` there. `kubeletSource()` says why none is.
 */
import { freePort, makeTempDir, randomHex } from "../helpers/env.ts";
import { removeTree } from "../helpers/teardown.ts";
import type { TestSkiff } from "../helpers/skiff.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const SHARED = `${REPO}../shared/tools/kubelet`;

/** Where the kubelet comes from, or why there is none (printed loudly by the caller). */
export function kubeletSource(): { kubelet: string; stream: string | null } | string {
  const own = Deno.env.get("SKIFF_KUBELET");
  const streamGz = Deno.env.get("SKIFF_KUBELET_STREAM") ?? `${SHARED}/kubelet-stream.gz`;
  const stream = exists(streamGz) ? streamGz : null;
  if (own) return exists(own) ? { kubelet: own, stream } : `SKIFF_KUBELET=${own} does not exist`;
  if (exists(`${SHARED}/kubelet.gz`)) return { kubelet: `${SHARED}/kubelet.gz`, stream };
  return `no kubelet: set SKIFF_KUBELET=/path/to/kubelet or provide ${SHARED}/kubelet.gz`;
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Copies `src` to `dir/name` as an executable, gunzipping a `.gz`. */
async function unpack(src: string, dir: string, name: string): Promise<string> {
  const dst = `${dir}/${name}`;
  if (!src.endsWith(".gz")) {
    await Deno.copyFile(src, dst);
  } else {
    const out = await Deno.open(dst, { write: true, create: true, truncate: true });
    const inp = await Deno.open(src);
    await inp.readable.pipeThrough(new DecompressionStream("gzip")).pipeTo(out.writable);
  }
  await Deno.chmod(dst, 0o755);
  return dst;
}

/**
 * Host paths kubelet makes whatever its flags say, deepest first; `recursive` ones hold only
 * kubelet's own files (its device-plugin socket and checkpoint, the empty flexvolume tree).
 */
const HOST_PATHS = [
  { path: "/var/lib/kubelet/device-plugins", recursive: true },
  { path: "/var/lib/kubelet", recursive: false },
  { path: "/usr/libexec/kubernetes", recursive: true },
  { path: "/var/log/pods", recursive: false },
  { path: "/var/log/containers", recursive: false },
];

function cgroupHierarchies(): string[] {
  const out: string[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0) continue;
    if (
      (f[sep + 1] === "cgroup" || f[sep + 1] === "cgroup2") && f[4].startsWith("/sys/fs/cgroup")
    ) {
      out.push(f[4]);
    }
  }
  return out;
}

export interface KubeletPod {
  metadata: { name: string; namespace: string; uid: string };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount: number;
      containerID?: string;
      state: { running?: unknown; waiting?: { reason?: string }; terminated?: unknown };
    }[];
  };
}

export class TestKubelet {
  readonly dir: string;
  readonly rootDir: string;
  readonly manifestDir: string;
  readonly logFile: string;
  readonly port = freePort();
  readonly healthzPort = freePort();
  readonly nodeName = `skiff-e2e-${randomHex(8)}`;
  /** Namespace of every static pod of this run: how its host leftovers are recognised. */
  readonly namespace = `e2e-${randomHex(8)}`;
  readonly cgroupRoot = `/skiff-e2e-${randomHex(8)}`;
  private bin = "";
  streamBin: string | null = null;
  private child?: Deno.ChildProcess;
  private done?: Promise<unknown>;
  private readonly createdHostPaths: typeof HOST_PATHS = [];
  private readonly cgroupDirs: string[] = [];

  private constructor(dir: string, readonly skiff: TestSkiff, readonly extraFlags: string[]) {
    this.dir = dir;
    this.rootDir = `${dir}/root`;
    this.manifestDir = `${dir}/manifests`;
    this.logFile = `${dir}/kubelet.log`;
  }

  static async create(skiff: TestSkiff, extraFlags: string[] = []): Promise<TestKubelet> {
    const src = kubeletSource();
    if (typeof src === "string") throw new Error(src);
    const k = new TestKubelet(await makeTempDir("kubelet"), skiff, extraFlags);
    try {
      await Deno.mkdir(k.manifestDir, { recursive: true });
      await Deno.mkdir(`${k.rootDir}/pki`, { recursive: true });
      k.bin = await unpack(src.kubelet, k.dir, "kubelet");
      if (src.stream) k.streamBin = await unpack(src.stream, k.dir, "kubelet-stream");
      return k;
    } catch (e) {
      await removeTree(k.dir);
      throw e;
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The flags that matter with Skiff (docs/switching-runtime.md lists them). */
  flags(): string[] {
    const sock = `unix://${this.skiff.socket}`;
    return [
      `--container-runtime-endpoint=${sock}`,
      `--image-service-endpoint=${sock}`,
      `--cgroup-driver=cgroupfs`,
      `--cgroup-root=${this.cgroupRoot}`,
      `--fail-cgroupv1=false`,
      `--fail-swap-on=false`,
      `--root-dir=${this.rootDir}`,
      `--cert-dir=${this.rootDir}/pki`,
      `--hostname-override=${this.nodeName}`,
      `--pod-manifest-path=${this.manifestDir}`,
      `--file-check-frequency=2s`,
      `--sync-frequency=5s`,
      `--address=127.0.0.1`,
      `--port=${this.port}`,
      `--read-only-port=0`,
      `--healthz-bind-address=127.0.0.1`,
      `--healthz-port=${this.healthzPort}`,
      `--enable-server=true`,
      `--enable-debugging-handlers=true`,
      `--anonymous-auth=true`,
      `--authentication-token-webhook=false`,
      `--authorization-mode=AlwaysAllow`,
      `--make-iptables-util-chains=false`,
      `--serialize-image-pulls=false`,
      `--image-gc-high-threshold=100`,
      `--image-gc-low-threshold=99`,
      `--eviction-hard=memory.available<100Mi,nodefs.available<1%,imagefs.available<1%`,
      `--resolv-conf=/etc/resolv.conf`,
      `--v=2`,
      ...this.extraFlags,
    ];
  }

  /** Creates its cgroup root in every hierarchy (kubelet refuses a missing one) and starts. */
  async start(): Promise<void> {
    for (const p of HOST_PATHS) if (!exists(p.path)) this.createdHostPaths.push(p);
    for (const h of cgroupHierarchies()) {
      const d = `${h}${this.cgroupRoot}`;
      await Deno.mkdir(d);
      this.cgroupDirs.push(d);
      if (h.endsWith("/cpuset")) {
        for (const f of ["cpuset.cpus", "cpuset.mems"]) {
          await Deno.writeTextFile(`${d}/${f}`, await Deno.readTextFile(`${h}/${f}`));
        }
      }
    }
    const log = await Deno.open(this.logFile, { append: true, create: true, write: true });
    this.child = new Deno.Command(this.bin, {
      args: this.flags(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (r: ReadableStream<Uint8Array>) => {
      for await (const chunk of r) await log.write(chunk).catch(() => {});
    };
    this.done = Promise.all([pump(this.child.stdout), pump(this.child.stderr)]).finally(() =>
      log.close()
    );
    await until("kubelet /healthz answers", async () => {
      // The main server's /healthz (the --healthz-port one is not served by this build).
      const r = await fetch(`${this.url}/healthz`).catch(() => null);
      await r?.body?.cancel();
      return r?.ok === true;
    }, 60_000);
  }

  async log(): Promise<string> {
    return await Deno.readTextFile(this.logFile).catch(() => "");
  }

  async get(path: string): Promise<Response> {
    return await fetch(`${this.url}${path}`);
  }

  async json<T>(path: string): Promise<T> {
    const r = await this.get(path);
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
    return await r.json() as T;
  }

  /** Static pods of this run as kubelet reports them (`/pods`). */
  async pods(): Promise<KubeletPod[]> {
    const list = await this.json<{ items: KubeletPod[] | null }>("/pods");
    return (list.items ?? []).filter((p) => p.metadata.namespace === this.namespace);
  }

  async pod(name: string): Promise<KubeletPod | undefined> {
    return (await this.pods()).find((p) => p.metadata.name === `${name}-${this.nodeName}`);
  }

  /** Writes a static pod manifest (JSON is YAML) for pod `name` in this run's namespace. */
  async writeManifest(name: string, spec: Record<string, unknown>): Promise<void> {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: this.namespace },
      spec,
    };
    const tmp = `${this.dir}/${name}.json.tmp`;
    await Deno.writeTextFile(tmp, JSON.stringify(pod));
    await Deno.rename(tmp, `${this.manifestDir}/${name}.json`);
  }

  async deleteManifest(name: string): Promise<void> {
    await Deno.remove(`${this.manifestDir}/${name}.json`);
  }

  /** Runs kubelet-stream (exec or pf) against this kubelet. */
  stream(mode: "exec" | "pf", args: string[]): Deno.Command {
    if (!this.streamBin) throw new Error("kubelet-stream is not available");
    return new Deno.Command(this.streamBin, {
      args: [mode, `-kubelet=${this.url}`, `-ns=${this.namespace}`, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
    }, 10_000);
    await child.status;
    clearTimeout(timer);
    await this.done;
  }

  /**
   * Removes what kubelet made on the host for this run, pass or fail. Call after `stop()` and
   * after the Skiff removed its pods (the pods' cgroups sit under kubelet's cgroup root).
   */
  async cleanupHost(): Promise<void> {
    await this.stop();
    for (const d of ["/var/log/pods", "/var/log/containers"]) {
      for (const e of await Array.fromAsync(Deno.readDir(d)).catch(() => [])) {
        if (e.name.includes(this.namespace)) await removeTree(`${d}/${e.name}`);
      }
    }
    for (const d of this.cgroupDirs) await removeCgroupTree(d);
    // kubelet bind-mounts its root dir onto itself: removeTree unmounts it first.
    await removeTree(this.dir);
    // Only paths this run created, and not while another kubelet on this host may use them.
    if (otherKubeletsRunning()) {
      console.warn(
        `another kubelet runs here: leaving ${this.createdHostPaths.map((p) => p.path)}`,
      );
      return;
    }
    for (const p of this.createdHostPaths) {
      await Deno.remove(p.path, { recursive: p.recursive }).catch(() => {});
    }
  }
}

/** Whether a kubelet other than the suite's (already stopped) one runs on this host. */
function otherKubeletsRunning(): boolean {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const argv0 = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0")[0];
      if (argv0 === "kubelet" || argv0.endsWith("/kubelet")) return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
}

/** rmdir of a cgroup subtree, children first (cgroup dirs hold only pseudo-files). */
async function removeCgroupTree(dir: string): Promise<void> {
  for (const e of await Array.fromAsync(Deno.readDir(dir)).catch(() => [])) {
    if (e.isDirectory) await removeCgroupTree(`${dir}/${e.name}`);
  }
  for (let i = 0; i < 10; i++) {
    try {
      await Deno.remove(dir);
      return;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  console.warn(`could not remove cgroup ${dir}`);
}

/** Polls `check` until it returns true; throws with `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  everyMs = 500,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for: ${what}${last ? ` (${last})` : ""}`,
  );
}
