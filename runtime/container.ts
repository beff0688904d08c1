/**
 * Containers: the state machine (CREATED → RUNNING → EXITED), persisted in the store so
 * that Skiff can be restarted or SIGKILLed at any time without touching running
 * containers; conmon and runc do the work, conmon's exit files say how a container ended.
 *
 * Where the files live:
 *   <state_dir>/containers/<id>/   bundle: config.json, rootfs (overlay mount point),
 *                                  conmon pid files, runc log, attach socket, ctl FIFO
 *   <state_dir>/containers/<id>/persist/exit, …/oom   written by conmon when it ends
 *   <root_dir>/containers/<id>/{upper,work}           the container's writable layer
 */
import { dirname } from "node:path";
import { type Config, runtimeRoot } from "../core/config/mod.ts";
import {
  AlreadyExistsError,
  errorMessage,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type { Store } from "../store/mod.ts";
import type { Collection } from "../store/mod.ts";
import type { ContainerConfig, ImageSpec, LinuxContainerResources, Mount } from "./model.ts";
import type {
  ContainerEvent,
  ContainerEventSink,
  ContainerEventType,
  ContainerForStreaming,
  ContainerLookup,
  ContainerStateName,
  ImageProvider,
  ImageUsage,
  PodContainers,
  SandboxForContainer,
  SandboxProvider,
} from "./contracts.ts";
import { OciRuntime } from "./oci.ts";
import { startConmon } from "./monitor.ts";
import { isMounted, mountReadOnlyLayers, mountRootfs, unmountRootfs } from "./rootfs.ts";
import { ALL_CAPABILITIES, buildSpec, type OciDevice, type SpecHost } from "./spec.ts";
import { resolveInRoot, resolveUser } from "./user.ts";
import { KeyedLock } from "../core/keyed_lock.ts";

/** What Skiff remembers of a container, across restarts. */
export interface ContainerRecord {
  id: string;
  sandboxId: string;
  name: string;
  attempt: number;
  /** Set while CreateContainer is still making it: a crash leaves this to clean. */
  creating?: boolean;
  state: ContainerStateName;
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  image: ImageSpec;
  imageRef: string;
  imageId: string;
  /** Images mounted as volumes (Mount.image): also in use while the container exists. */
  volumeImageIds?: string[];
  layerDirs: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: Mount[];
  logPath: string;
  resources: LinuxContainerResources | null;
  user: { uid: number; gid: number; additionalGids: number[] };
  stopSignal: string;
  tty: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  runtimeHandler: string;
  runtimeBinary: string;
  runtimeRoot: string;
  runtimeOptions: string[];
  pid: number;
  conmonPid: number;
  /** The kernel boot it was started in: after a reboot its PIDs mean nothing. */
  bootId?: string;
  /** Pod cgroup conmon was moved under (cgroupfs driver), to remove its cgroup later. */
  conmonCgroupParent?: string;
  bundleDir: string;
  upperDir: string;
  workDir: string;
}

export interface ContainerListFilter {
  id?: string;
  state?: ContainerStateName;
  sandboxId?: string;
  labels?: Record<string, string>;
}

export interface ContainerServiceDeps {
  config: Config;
  store: Store;
  images: ImageProvider;
  sandboxes: SandboxProvider;
  log: Logger;
  events?: ContainerEventSink;
}

/** Exit code CRI reports for a container that could not be started (as containerd). */
export const START_ERROR_EXIT_CODE = 128;

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** A signal name from CRI's enum or an image's StopSignal ("SIGINT", "INT", "2"). */
export function parseSignal(s: string): string | null {
  if (!s || s === "RUNTIME_DEFAULT") return null;
  if (/^\d+$/.test(s)) return s;
  const up = s.toUpperCase();
  const name = up.startsWith("SIG") ? up : `SIG${up}`;
  if (SIGNALS[name]) return name;
  const rt = /^SIGRTMIN(?:PLUS(\d+))?$/.exec(name);
  if (rt) return String(34 + Number(rt[1] ?? 0));
  const rtmax = /^SIGRTMAX(?:MINUS(\d+))?$/.exec(name);
  if (rtmax) return String(64 - Number(rtmax[1] ?? 0));
  return null;
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

let bootIdCache: string | undefined;
function bootId(): string {
  bootIdCache ??= (() => {
    try {
      return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
    } catch {
      return "";
    }
  })();
  return bootIdCache;
}

function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Kills what a StartContainer cut short by a crash left running: conmon's launcher blocked
 * forever opening its FIFOs (Skiff died before opening the other ends), or conmon that saw
 * its start pipe close and goes on to `runc create`. Their FIFOs still exist only then
 * (a finished start removes them), so the /proc scan runs only after such a crash.
 */
async function killInterruptedStart(bundleDir: string): Promise<void> {
  const fifos = [`${bundleDir}/conmon-sync`, `${bundleDir}/conmon-start`];
  const exists = (p: string) => {
    try {
      Deno.lstatSync(p);
      return true;
    } catch {
      return false;
    }
  };
  if (!fifos.some(exists)) return;
  for (let pass = 0; pass < 3; pass++) {
    let killed = 0;
    for (const e of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
      let cmdline: string;
      try {
        cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
      } catch {
        continue;
      }
      if (!cmdline.includes(bundleDir)) continue;
      try {
        Deno.kill(Number(e.name), "SIGKILL");
        killed++;
      } catch { /* gone meanwhile */ }
    }
    if (killed === 0) break;
    await sleep(50);
  }
  for (const f of fifos) await Deno.remove(f).catch(() => {});
}

export class ContainerService implements ImageUsage, PodContainers, ContainerLookup {
  private readonly records: Collection<ContainerRecord>;
  private readonly cache = new Map<string, ContainerRecord>();
  private readonly names = new Map<string, string>();
  private readonly locks = new KeyedLock();
  private readonly log: Logger;
  private readonly exitDir: string;
  private readonly socketDir: string;
  private readonly cgroupV2: boolean;
  private readonly hugetlb: boolean;
  private oomFloor: number | null | undefined;
  private closed = false;
  private readonly host: SpecHost = {
    device: (p) => deviceOf(p),
    hostDevices: () => hostDevices(),
    mountPropagation: (p) => mountPropagation(p),
  };

  constructor(private readonly deps: ContainerServiceDeps) {
    this.records = deps.store.collection<ContainerRecord>("containers");
    this.log = deps.log;
    this.exitDir = `${deps.config.state_dir}/exits`;
    this.socketDir = `${deps.config.state_dir}/attach`;
    this.cgroupV2 = isCgroupV2();
    this.hugetlb = hasHugetlbController(this.cgroupV2);
  }

  /** Loads state, settles containers that ended while Skiff was away, cleans half-made ones. */
  async recover(): Promise<void> {
    await Deno.mkdir(this.exitDir, { recursive: true, mode: 0o700 });
    await Deno.mkdir(this.socketDir, { recursive: true, mode: 0o700 });
    for (const rec of this.records.list()) {
      if (rec.creating) {
        this.log.warn("cleaning container left half-created by a crash", { id: rec.id });
        await this.destroy(rec).catch((err) =>
          this.log.error("cleanup failed", { id: rec.id, err: errorMessage(err) })
        );
        continue;
      }
      this.remember(rec);
      if (rec.state === "CONTAINER_RUNNING") {
        if (rec.bootId && rec.bootId !== bootId()) {
          this.markExited(
            rec,
            255,
            "Unknown",
            "the node rebooted while it was running",
            Date.now(),
          );
        } else if (!this.settleExit(rec) && !isAlive(rec.conmonPid) && !isAlive(rec.pid)) {
          this.markExited(
            rec,
            255,
            "Unknown",
            "conmon and the container vanished while Skiff was down",
            Date.now(),
          );
        }
      } else if (rec.state === "CONTAINER_CREATED") {
        // A start interrupted by a crash may have left conmon's launcher or conmon itself
        // behind, and a runtime container.
        await killInterruptedStart(rec.bundleDir);
        await this.runtimeFor(rec).delete(rec.id).catch(() => {});
      }
    }
    this.log.info("containers recovered", { count: this.cache.size });
  }

  close(): void {
    this.closed = true;
  }

  /** Where conmon writes `<id>` when a container ends (for an inotify exit watcher). */
  get exitsDir(): string {
    return this.exitDir;
  }

  /** Settles a container whose exit file appeared: records the exit, publishes the event. */
  settle(id: string): void {
    const rec = this.cache.get(id);
    if (rec) this.settleExit(rec);
  }

  /**
   * Stores the resources an UpdateContainerResources applied (runtime/maintenance.ts runs
   * `runc update`), so ContainerStatus reports what is in force.
   */
  recordResources(id: string, resources: LinuxContainerResources): void {
    const rec = this.resolve(id);
    rec.resources = resources;
    this.save(rec);
  }

  // --------------------------------------------------------------------------------------
  // Create

  async create(
    sandboxId: string,
    config: ContainerConfig,
  ): Promise<string> {
    const sandbox = this.deps.sandboxes.getSandbox(sandboxId);
    if (!sandbox) {
      throw new NotFoundError(
        `pod sandbox ${sandboxId} not found; create it with RunPodSandbox first`,
      );
    }
    if (sandbox.state !== "SANDBOX_READY") {
      throw new FailedPreconditionError(
        `pod sandbox ${sandboxId} is not ready (${sandbox.state}); containers can only be created in a ready sandbox`,
      );
    }
    const name = config.metadata?.name ?? "";
    if (!name) throw new InvalidArgumentError("container config has no metadata.name");
    const attempt = config.metadata?.attempt ?? 0;
    const imageRef = config.image?.image ?? "";
    if (!imageRef) throw new InvalidArgumentError("container config has no image");
    const image = this.deps.images.findImage(imageRef);
    if (!image) {
      throw new NotFoundError(`image "${imageRef}" is not present on this node; pull it first`);
    }
    const nameKey = `${sandboxId}/${name}/${attempt}`;
    const taken = this.names.get(nameKey);
    if (taken) {
      throw new AlreadyExistsError(
        `container "${name}" attempt ${attempt} already exists in pod ${sandboxId} as ${taken}; remove it first`,
      );
    }
    const logRel = config.log_path ?? "";
    if (logRel.startsWith("/") || logRel.split("/").includes("..")) {
      throw new InvalidArgumentError(
        `log_path "${logRel}" must be relative to the pod's log directory and stay inside it`,
      );
    }
    const handlerName = sandbox.runtimeHandler || this.deps.config.runtime.default_handler;
    const handler = this.deps.config.runtime.handlers[handlerName];
    if (!handler) {
      throw new NotFoundError(`runtime handler "${handlerName}" is not configured`);
    }

    const id = randomId();
    const bundleDir = `${this.deps.config.state_dir}/containers/${id}`;
    const layerDir = `${this.deps.config.root_dir}/containers/${id}`;
    const stopSignal = parseSignal(config.stop_signal ?? "") ??
      parseSignal(image.config.StopSignal ?? "") ?? "SIGTERM";
    const rec: ContainerRecord = {
      id,
      sandboxId,
      name,
      attempt,
      creating: true,
      state: "CONTAINER_CREATED",
      createdAt: Date.now(),
      startedAt: 0,
      finishedAt: 0,
      exitCode: 0,
      reason: "",
      message: "",
      image: {
        image: imageRef,
        annotations: config.image?.annotations ?? {},
        user_specified_image: config.image?.user_specified_image || imageRef,
        runtime_handler: config.image?.runtime_handler ?? "",
        image_ref: image.id,
      },
      imageRef: image.repoDigests[0] ?? image.id,
      imageId: image.id,
      layerDirs: image.layerDirs,
      labels: { ...(config.labels ?? {}) },
      annotations: { ...(config.annotations ?? {}) },
      mounts: config.mounts ?? [],
      logPath: config.log_path ? `${sandbox.logDirectory}/${config.log_path}` : "",
      resources: config.linux?.resources ?? null,
      user: { uid: 0, gid: 0, additionalGids: [] },
      stopSignal,
      tty: !!config.tty,
      stdin: !!config.stdin,
      stdinOnce: !!config.stdin_once,
      runtimeHandler: handlerName,
      runtimeBinary: handler.binary,
      runtimeRoot: runtimeRoot(this.deps.config, handlerName),
      runtimeOptions: handler.options,
      pid: 0,
      conmonPid: 0,
      bundleDir,
      upperDir: `${layerDir}/upper`,
      workDir: `${layerDir}/work`,
    };
    this.names.set(nameKey, id);
    try {
      this.records.put(id, rec, sandboxId);
      await Deno.mkdir(bundleDir, { recursive: true, mode: 0o700 });
      const rootfs = `${bundleDir}/rootfs`;
      await mountRootfs(image.layerDirs, rec.upperDir, rec.workDir, rootfs);
      const sc = config.linux?.security_context;
      const user = resolveUser(rootfs, {
        uid: sc?.run_as_user ? Number(sc.run_as_user.value) : undefined,
        username: sc?.run_as_username || undefined,
        gid: sc?.run_as_group ? Number(sc.run_as_group.value) : undefined,
        supplementalGroups: (sc?.supplemental_groups ?? []).map(Number),
        strictGroups: sc?.supplemental_groups_policy === "Strict",
        imageUser: image.config.User ?? "",
      });
      rec.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
      const mounts = await this.prepareMounts(rec);
      const spec = buildSpec({
        id,
        config: { ...config, mounts },
        image: image.config,
        sandbox,
        rootfs,
        user,
        pidNamespace: this.pidNamespace(sandbox, config),
        cgroupDriver: this.deps.config.cgroup_driver,
        cgroupV2: this.cgroupV2,
        oomScoreAdjFloor: this.oomScoreAdjFloor(),
        host: this.host,
        availableCapabilities: ownBoundingCapabilities(),
        hugetlbAvailable: this.hugetlb,
      });
      await Deno.writeTextFile(`${bundleDir}/config.json`, JSON.stringify(spec));
      delete rec.creating;
      this.records.put(id, rec, sandboxId);
      this.remember(rec);
    } catch (err) {
      this.names.delete(nameKey);
      await this.destroy(rec).catch((e) =>
        this.log.error("cleanup of failed create failed", { id, err: errorMessage(e) })
      );
      throw err;
    }
    this.publish("CONTAINER_CREATED_EVENT", rec);
    this.log.info("container created", { id, name, sandbox: sandboxId });
    return id;
  }

  /**
   * Host sides of the CRI mounts: missing host dirs are created (as containerd does) and
   * image volumes are mounted read-only from the image's layers inside the bundle.
   */
  private async prepareMounts(rec: ContainerRecord): Promise<Mount[]> {
    const out: Mount[] = [];
    for (const [i, m] of rec.mounts.entries()) {
      const ref = m.image?.image;
      if (!ref) {
        await ensureHostPath(m);
        out.push(m);
        continue;
      }
      const img = this.deps.images.findImage(ref);
      if (!img) {
        throw new NotFoundError(
          `image volume ${m.container_path}: image "${ref}" is not present on this node; pull it first`,
        );
      }
      rec.volumeImageIds = [...new Set([...(rec.volumeImageIds ?? []), img.id])];
      const dir = `${rec.bundleDir}/image-volumes/${i}`;
      await mountReadOnlyLayers(img.layerDirs, dir, `${rec.bundleDir}/image-volumes/empty`);
      const source = m.image_sub_path ? resolveInRoot(dir, m.image_sub_path) : dir;
      try {
        Deno.statSync(source);
      } catch {
        throw new NotFoundError(
          `image volume ${m.container_path}: sub-path "${m.image_sub_path}" does not exist in image "${ref}"`,
        );
      }
      out.push({ ...m, host_path: source, image: null, readonly: true });
    }
    return out;
  }

  private pidNamespace(sandbox: SandboxForContainer, config: ContainerConfig): string | null {
    const ns = config.linux?.security_context?.namespace_options;
    const mode = ns?.pid ?? "CONTAINER";
    if (mode === "NODE" || sandbox.hostPid) return "host";
    if (mode === "POD") {
      if (!sandbox.pidnsPath) {
        throw new FailedPreconditionError(
          `pod ${sandbox.id} has no shared PID namespace, but the container asks for PID mode POD`,
        );
      }
      return sandbox.pidnsPath;
    }
    if (mode === "TARGET") {
      const target = this.resolve(ns?.target_id ?? "");
      if (target.state !== "CONTAINER_RUNNING" || target.pid <= 0) {
        throw new FailedPreconditionError(
          `PID namespace target ${target.id} is not running; start it first`,
        );
      }
      return `/proc/${target.pid}/ns/pid`;
    }
    return null;
  }

  private oomScoreAdjFloor(): number | null {
    if (!this.deps.config.runtime.restrict_oom_score_adj) return null;
    if (this.oomFloor !== undefined) return this.oomFloor;
    // Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it, Skiff's own value is the
    // lowest a child may get.
    const own = Number(Deno.readTextFileSync("/proc/self/oom_score_adj").trim());
    this.oomFloor = hasCapability(24 /* CAP_SYS_RESOURCE */) ? null : own;
    return this.oomFloor;
  }

  // --------------------------------------------------------------------------------------
  // Start

  async start(idOrPrefix: string): Promise<void> {
    const id = this.resolve(idOrPrefix).id;
    await this.locks.run(id, async () => {
      const rec = this.resolve(id);
      if (rec.state !== "CONTAINER_CREATED") {
        throw new FailedPreconditionError(
          `container ${id} is ${rec.state}, not CONTAINER_CREATED; only a created container can be started`,
        );
      }
      const sandbox = this.deps.sandboxes.getSandbox(rec.sandboxId);
      if (!sandbox || sandbox.state !== "SANDBOX_READY") {
        throw new FailedPreconditionError(
          `pod sandbox ${rec.sandboxId} of container ${id} is not ready; cannot start the container`,
        );
      }
      const rootfs = `${rec.bundleDir}/rootfs`;
      const runtime = this.runtimeFor(rec);
      const runtimeLog = `${rec.bundleDir}/runtime.log`;
      const persistDir = `${rec.bundleDir}/persist`;
      try {
        // After a node reboot the overlay is gone; mount it again from the same layers.
        if (!isMounted(rootfs)) await mountRootfs(rec.layerDirs, rec.upperDir, rec.workDir, rootfs);
        await Deno.mkdir(persistDir, { recursive: true, mode: 0o700 });
        await Deno.remove(`${persistDir}/exit`).catch(() => {});
        await Deno.remove(`${persistDir}/oom`).catch(() => {});
        await Deno.remove(`${this.exitDir}/${id}`).catch(() => {});
        if (rec.logPath) await Deno.mkdir(dirname(rec.logPath), { recursive: true });
        const started = await startConmon({
          conmon: this.deps.config.runtime.conmon,
          id,
          name: rec.name,
          bundle: rec.bundleDir,
          logPath: rec.logPath || `${rec.bundleDir}/ctr.log`,
          exitDir: this.exitDir,
          persistDir,
          socketDir: this.socketDir,
          runtimeBinary: resolveBinary(rec.runtimeBinary),
          runtimeArgs: runtime.globalArgs(runtimeLog),
          terminal: rec.tty,
          stdin: rec.stdin,
          stdinOnce: rec.stdinOnce,
          systemdCgroup: this.deps.config.cgroup_driver === "systemd",
          conmonLog: `${rec.bundleDir}/conmon.log`,
          pidFile: `${rec.bundleDir}/pidfile`,
          conmonPidFile: `${rec.bundleDir}/conmon.pid`,
          beforeStart: (pid) => this.placeConmon(rec, sandbox, pid),
        });
        rec.pid = started.pid;
        rec.conmonPid = started.conmonPid;
        rec.bootId = bootId();
        // The process may end before `runc start` returns: take the time before, so that
        // finished_at is never earlier than started_at.
        rec.startedAt = Date.now();
        await runtime.start(id, runtimeLog);
      } catch (err) {
        const message = errorMessage(err);
        await runtime.delete(id).catch(() => {});
        this.markExited(rec, START_ERROR_EXIT_CODE, "StartError", message, Date.now());
        rec.pid = 0;
        this.save(rec);
        throw new InternalError(`failed to start container ${id}: ${message}`, { cause: err });
      }
      rec.state = "CONTAINER_RUNNING";
      this.save(rec);
      this.publish("CONTAINER_STARTED_EVENT", rec);
      this.log.info("container started", { id, pid: rec.pid });
      // A process that ended at once may already have an exit file.
      this.settleExit(rec);
    });
  }

  /**
   * Moves conmon out of Skiff's own cgroup into one of its own under the pod's (CRI-O's
   * conmon_cgroup = "pod"): its memory is the pod's, and stopping Skiff's service cgroup
   * cannot take the monitors with it. cgroupfs driver only; with systemd, conmon stays.
   * Best effort: a container still starts if a hierarchy refuses.
   */
  private async placeConmon(
    rec: ContainerRecord,
    sandbox: SandboxForContainer,
    pid: number,
  ): Promise<void> {
    if (this.deps.config.cgroup_driver !== "cgroupfs") return;
    rec.conmonCgroupParent = sandbox.cgroupParent;
    // Synchronous calls: a handful of tiny cgroupfs writes, cheaper than thread-pool hops.
    for (const dir of conmonCgroupDirs(sandbox.cgroupParent, rec.id)) {
      try {
        Deno.mkdirSync(dir, { recursive: true });
        Deno.writeTextFileSync(`${dir}/cgroup.procs`, `${pid}\n`);
      } catch (err) {
        this.log.debug("conmon not moved into a pod cgroup", { dir, err: errorMessage(err) });
      }
    }
  }

  /** Removes conmon's cgroups once it has gone (it leaves soon after its container). */
  private async removeConmonCgroups(rec: ContainerRecord): Promise<void> {
    if (rec.conmonCgroupParent === undefined) return;
    for (const dir of conmonCgroupDirs(rec.conmonCgroupParent, rec.id)) {
      for (let i = 0; i < 20; i++) {
        try {
          await Deno.remove(dir);
          break;
        } catch (err) {
          if (err instanceof Deno.errors.NotFound) break;
          await sleep(25); // still busy: conmon is finishing
        }
      }
    }
  }

  // --------------------------------------------------------------------------------------
  // Stop / remove

  /** Stops a running container (stop signal, SIGKILL after the grace); no-op otherwise. */
  async stop(idOrPrefix: string, timeoutSeconds: number): Promise<void> {
    const rec = this.resolve(idOrPrefix);
    await this.locks.run(rec.id, () => this.stopLocked(rec.id, timeoutSeconds));
  }

  private async stopLocked(id: string, timeoutSeconds: number): Promise<void> {
    const rec = this.cache.get(id);
    if (!rec) return;
    this.settleExit(rec);
    // UNKNOWN is a container that runs without its conmon: it is stopped all the same.
    if (rec.state !== "CONTAINER_RUNNING" && rec.state !== "CONTAINER_UNKNOWN") return;
    const runtime = this.runtimeFor(rec);
    if (timeoutSeconds > 0 && rec.stopSignal !== "SIGKILL" && rec.stopSignal !== "9") {
      const sent = await runtime.kill(id, rec.stopSignal);
      if (sent && await this.waitForExit(rec, timeoutSeconds * 1000)) return this.reap(rec);
      if (!sent) await this.waitForExit(rec, 2000);
    }
    if (rec.state === "CONTAINER_RUNNING" || rec.state === "CONTAINER_UNKNOWN") {
      await runtime.kill(id, "SIGKILL", !this.ownsPidNamespace(rec));
      if (!await this.waitForExit(rec, 30000)) {
        throw new InternalError(
          `container ${id} did not exit 30 s after SIGKILL (pid ${rec.pid}); it may be stuck in the kernel (D state)`,
        );
      }
    }
    await this.reap(rec);
  }

  /** Whether the container's init is the only reaper of its processes (own PID ns). */
  private ownsPidNamespace(rec: ContainerRecord): boolean {
    try {
      const spec = JSON.parse(Deno.readTextFileSync(`${rec.bundleDir}/config.json`)) as {
        linux?: { namespaces?: { type: string; path?: string }[] };
      };
      return !!spec.linux?.namespaces?.some((n) => n.type === "pid" && !n.path);
    } catch {
      return true;
    }
  }

  private async waitForExit(rec: ContainerRecord, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    let delay = 5;
    while (true) {
      if (this.settleExit(rec)) return true;
      if (!isAlive(rec.conmonPid) && !isAlive(rec.pid)) {
        // conmon writes the exit file just before it exits; look once more.
        if (this.settleExit(rec)) return true;
        this.markExited(
          rec,
          255,
          "Error",
          "conmon ended without recording an exit code",
          Date.now(),
        );
        return true;
      }
      if (Date.now() >= deadline) return false;
      await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
      delay = Math.min(delay * 2, 100);
    }
  }

  /** Reaps running in the background, awaited by destroy() so none outlives a removal. */
  private readonly reaps = new Map<string, Promise<void>>();
  /** Containers whose runtime state a reap already deleted: removal need not run runc again. */
  private readonly reaped = new Set<string>();

  /** Frees the runtime's state of an exited container (its cgroup, runc state dir). */
  private reap(rec: ContainerRecord): Promise<void> {
    const pending = this.reaps.get(rec.id);
    if (pending) return pending;
    const done = this.runtimeFor(rec).delete(rec.id).then(
      () => {
        this.reaped.add(rec.id);
      },
      (err) => this.log.warn("runtime delete failed", { id: rec.id, err: errorMessage(err) }),
    ).finally(() => this.reaps.delete(rec.id));
    this.reaps.set(rec.id, done);
    return done;
  }

  async remove(idOrPrefix: string): Promise<void> {
    let rec: ContainerRecord;
    try {
      rec = this.resolve(idOrPrefix);
    } catch (err) {
      if (err instanceof NotFoundError) return; // idempotent, as containerd
      throw err;
    }
    await this.locks.run(rec.id, async () => {
      const current = this.cache.get(rec.id);
      if (!current) return;
      await this.stopLocked(rec.id, 0);
      await this.destroy(current);
      this.publish("CONTAINER_DELETED_EVENT", current);
      this.log.info("container removed", { id: rec.id });
    });
  }

  /** Removes everything a container has on the node: runtime state, mount, dirs, record. */
  private async destroy(rec: ContainerRecord): Promise<void> {
    await this.reaps.get(rec.id);
    if (!this.reaped.delete(rec.id)) await this.runtimeFor(rec).delete(rec.id).catch(() => {});
    await this.removeConmonCgroups(rec);
    await unmountRootfs(`${rec.bundleDir}/rootfs`);
    try {
      for (const e of Deno.readDirSync(`${rec.bundleDir}/image-volumes`)) {
        await unmountRootfs(`${rec.bundleDir}/image-volumes/${e.name}`);
      }
    } catch { /* no image volumes */ }
    await Deno.remove(rec.bundleDir, { recursive: true }).catch(() => {});
    await Deno.remove(dirname(rec.upperDir), { recursive: true }).catch(() => {});
    await Deno.remove(`${this.exitDir}/${rec.id}`).catch(() => {});
    await Deno.remove(`${this.socketDir}/${rec.id}`, { recursive: true }).catch(() => {});
    this.records.delete(rec.id);
    this.cache.delete(rec.id);
    const key = `${rec.sandboxId}/${rec.name}/${rec.attempt}`;
    if (this.names.get(key) === rec.id) this.names.delete(key);
  }

  // --------------------------------------------------------------------------------------
  // Status / list

  /** A container by full ID or unique prefix, with its exit settled if it ended. */
  get(idOrPrefix: string): ContainerRecord {
    const rec = this.resolve(idOrPrefix);
    this.settleExit(rec);
    return rec;
  }

  list(filter: ContainerListFilter = {}): ContainerRecord[] {
    let recs = [...this.cache.values()];
    if (filter.id) {
      recs = recs.filter((r) => r.id.startsWith(filter.id!));
    }
    if (filter.sandboxId) recs = recs.filter((r) => r.sandboxId.startsWith(filter.sandboxId!));
    for (const r of recs) this.settleExit(r);
    if (filter.state) recs = recs.filter((r) => r.state === filter.state);
    if (filter.labels) {
      const want = Object.entries(filter.labels);
      recs = recs.filter((r) => want.every(([k, v]) => r.labels[k] === v));
    }
    return recs.sort((a, b) => a.createdAt - b.createdAt);
  }

  /** The spec written for the container (for verbose status). */
  spec(rec: ContainerRecord): unknown {
    try {
      return JSON.parse(Deno.readTextFileSync(`${rec.bundleDir}/config.json`));
    } catch {
      return null;
    }
  }

  // --------------------------------------------------------------------------------------
  // Contracts for the other services

  containersUsingImage(imageId: string): string[] {
    return [...this.cache.values()]
      .filter((r) => r.imageId === imageId || r.volumeImageIds?.includes(imageId))
      .map((r) => r.id);
  }

  async stopPodContainers(sandboxId: string, timeoutSeconds: number): Promise<void> {
    const recs = [...this.cache.values()].filter((r) => r.sandboxId === sandboxId);
    await Promise.all(recs.map((r) => this.stop(r.id, timeoutSeconds)));
  }

  async removePodContainers(sandboxId: string): Promise<void> {
    const recs = [...this.cache.values()].filter((r) => r.sandboxId === sandboxId);
    await Promise.all(recs.map((r) => this.remove(r.id)));
  }

  getContainerForStreaming(idOrPrefix: string): ContainerForStreaming | undefined {
    let rec: ContainerRecord;
    try {
      rec = this.get(idOrPrefix);
    } catch {
      return undefined;
    }
    return {
      id: rec.id,
      sandboxId: rec.sandboxId,
      state: rec.state,
      pid: rec.state === "CONTAINER_RUNNING" ? rec.pid : 0,
      tty: rec.tty,
      stdin: rec.stdin,
      runtimeBinary: rec.runtimeBinary,
      runtimeRoot: rec.runtimeRoot,
      runtimeOptions: rec.runtimeOptions,
      attachSocketPath: `${rec.bundleDir}/attach`,
      ctlFifoPath: `${rec.bundleDir}/ctl`,
      bundleDir: rec.bundleDir,
    };
  }

  // --------------------------------------------------------------------------------------
  // Internals

  private resolve(idOrPrefix: string): ContainerRecord {
    if (!idOrPrefix) throw new InvalidArgumentError("container ID is empty");
    const exact = this.cache.get(idOrPrefix);
    if (exact) return exact;
    const matches = [...this.cache.values()].filter((r) => r.id.startsWith(idOrPrefix));
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new InvalidArgumentError(
        `container ID prefix "${idOrPrefix}" matches ${matches.length} containers; give more characters`,
      );
    }
    throw new NotFoundError(`container "${idOrPrefix}" not found`);
  }

  private remember(rec: ContainerRecord): void {
    this.cache.set(rec.id, rec);
    this.names.set(`${rec.sandboxId}/${rec.name}/${rec.attempt}`, rec.id);
  }

  private save(rec: ContainerRecord): void {
    this.records.put(rec.id, rec, rec.sandboxId);
  }

  private runtimeFor(rec: ContainerRecord): OciRuntime {
    return new OciRuntime({
      binary: resolveBinary(rec.runtimeBinary),
      root: rec.runtimeRoot,
      options: rec.runtimeOptions,
      systemdCgroup: this.deps.config.cgroup_driver === "systemd",
    });
  }

  /**
   * If a running container's conmon has written its exit file, records how it ended.
   * Returns whether the container has exited.
   */
  private settleExit(rec: ContainerRecord): boolean {
    if (rec.state === "CONTAINER_EXITED") return true;
    // UNKNOWN: running without its conmon (see monitorLost); its process may end meanwhile.
    if (rec.state !== "CONTAINER_RUNNING" && rec.state !== "CONTAINER_UNKNOWN") return false;
    const persist = `${rec.bundleDir}/persist`;
    const readExit = () => {
      try {
        const text = Deno.readTextFileSync(`${persist}/exit`).trim();
        return { text, mtime: Deno.statSync(`${persist}/exit`).mtime?.getTime() ?? Date.now() };
      } catch {
        return null;
      }
    };
    let exit = readExit();
    if (!exit) {
      // conmon writes the exit file before it exits: with conmon gone, one more look tells
      // whether one will ever come.
      if (rec.conmonPid <= 0 || isAlive(rec.conmonPid)) return false;
      exit = readExit();
      if (!exit) return this.monitorLost(rec);
    }
    const { text, mtime } = exit;
    if (!/^-?\d+$/.test(text)) return false; // being written; look again later
    // conmon writes the exit file and then drains the last output into the log: report the
    // exit once conmon is gone, so that whoever reads the log after seeing EXITED (kubelet's
    // termination message from the log) gets all of it. Bounded, in case conmon lingers.
    if (isAlive(rec.conmonPid) && Date.now() - mtime < 2000) return false;
    const code = Number(text);
    let oom = false;
    try {
      Deno.statSync(`${persist}/oom`);
      oom = true;
    } catch { /* no OOM kill recorded */ }
    const reason = oom ? "OOMKilled" : code === 0 ? "Completed" : "Error";
    this.markExited(rec, code, reason, "", Math.max(mtime, rec.startedAt));
    // Free the runtime's state (cgroup, runc dir) without holding the caller up.
    if (!this.closed) this.reap(rec);
    return true;
  }

  /**
   * conmon died (SIGKILLed, OOM-killed) without writing an exit file: nobody records this
   * container's exit code or writes its log any more. If its process has ended too it is
   * EXITED with an unknown code; if it still runs it is UNKNOWN with the reason (as CRI-O
   * reports a dead conmon) until StopContainer kills it. Returns whether it has exited.
   */
  private monitorLost(rec: ContainerRecord): boolean {
    if (!isAlive(rec.pid)) {
      this.markExited(
        rec,
        255,
        "Error",
        `conmon (pid ${rec.conmonPid}) ended without recording an exit code`,
        Date.now(),
      );
      if (!this.closed) this.reap(rec);
      return true;
    }
    if (rec.state !== "CONTAINER_UNKNOWN") {
      rec.state = "CONTAINER_UNKNOWN";
      rec.reason = "ConmonExited";
      rec.message = `conmon (pid ${rec.conmonPid}) died while the container (pid ${rec.pid}) ` +
        `runs: its exit code and log can no longer be recorded; stop the container`;
      this.save(rec);
      this.log.warn("container lost its conmon", { id: rec.id, conmonPid: rec.conmonPid });
    }
    return false;
  }

  private markExited(
    rec: ContainerRecord,
    code: number,
    reason: string,
    message: string,
    at: number,
  ): void {
    const wasRunning = rec.state === "CONTAINER_RUNNING" || rec.state === "CONTAINER_UNKNOWN";
    rec.state = "CONTAINER_EXITED";
    rec.exitCode = code;
    rec.reason = reason;
    rec.message = message;
    rec.finishedAt = at;
    if (this.cache.has(rec.id)) this.save(rec);
    if (wasRunning) this.publish("CONTAINER_STOPPED_EVENT", rec);
  }

  private publish(type: ContainerEventType, rec: ContainerRecord): void {
    const ev: ContainerEvent = {
      type,
      containerId: rec.id,
      sandboxId: rec.sandboxId,
      at: Date.now(),
    };
    try {
      this.deps.events?.publish(ev);
    } catch (err) {
      this.log.warn("event sink failed", { err: errorMessage(err) });
    }
  }
}

// ---------------------------------------------------------------------------------------
// Host facts

function resolveBinary(name: string): string {
  if (name.includes("/")) return name;
  for (const d of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      if (Deno.statSync(`${d}/${name}`).isFile) return `${d}/${name}`;
    } catch { /* keep looking */ }
  }
  return name;
}

/**
 * conmon's own cgroup under the pod's, in every hierarchy that can take a process without
 * further set-up (cpuset cannot: a new v1 cpuset cgroup has no CPUs until given some).
 */
function conmonCgroupDirs(parent: string, id: string): string[] {
  const base = parent ? (parent.startsWith("/") ? parent : `/${parent}`) : "/skiff";
  const leaf = `${base.replace(/\/$/, "")}/skiff-conmon-${id}`;
  if (isCgroupV2()) return [`/sys/fs/cgroup${leaf}`];
  const seen = new Set<string>();
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync("/sys/fs/cgroup")) {
      if (e.name.includes("cpuset")) continue;
      let real: string;
      try {
        real = Deno.realPathSync(`/sys/fs/cgroup/${e.name}`);
        Deno.statSync(`${real}/cgroup.procs`);
      } catch {
        continue;
      }
      if (seen.has(real)) continue;
      seen.add(real);
      out.push(`${real}${leaf}`);
    }
  } catch { /* no cgroupfs */ }
  return out;
}

function hasHugetlbController(v2: boolean): boolean {
  try {
    if (v2) {
      return Deno.readTextFileSync("/sys/fs/cgroup/cgroup.controllers").split(/\s+/)
        .includes("hugetlb");
    }
    return Deno.statSync("/sys/fs/cgroup/hugetlb").isDirectory;
  } catch {
    return false;
  }
}

function isCgroupV2(): boolean {
  try {
    return Deno.statSync("/sys/fs/cgroup/cgroup.controllers").isFile;
  } catch {
    return false;
  }
}

let boundingCache: string[] | undefined;
/** The capabilities in Skiff's own bounding set, by name. */
function ownBoundingCapabilities(): string[] {
  if (boundingCache) return boundingCache;
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"));
  const mask = m ? BigInt(`0x${m[1]}`) : 0n;
  boundingCache = ALL_CAPABILITIES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
  return boundingCache;
}

function hasCapability(bit: number): boolean {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    if (!m) return false;
    return ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** Missing host directories of bind mounts are created, as containerd does. */
async function ensureHostPath(m: Mount): Promise<void> {
  if (!m.host_path?.startsWith("/")) {
    throw new InvalidArgumentError(`mount host_path "${m.host_path}" must be an absolute path`);
  }
  try {
    await Deno.stat(m.host_path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    await Deno.mkdir(m.host_path, { recursive: true, mode: 0o755 });
  }
}

function deviceOf(path: string): OciDevice | null {
  try {
    const st = Deno.statSync(path);
    if (!st.isCharDevice && !st.isBlockDevice) return null;
    const rdev = st.rdev ?? 0;
    const major = Number((BigInt(rdev) >> 8n) & 0xfffn);
    const minor = Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & 0xfff00n));
    return {
      type: st.isCharDevice ? "c" : "b",
      path,
      major,
      minor,
      fileMode: (st.mode ?? 0o666) & 0o777,
      uid: st.uid ?? 0,
      gid: st.gid ?? 0,
    };
  } catch {
    return null;
  }
}

/** Host device nodes for privileged containers (as containerd's WithDevices("/dev")). */
function hostDevices(): OciDevice[] {
  const out: OciDevice[] = [];
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      // /dev/pts and friends are mounted fresh in the container; /dev/console is the tty's.
      if (["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/console"].includes(p)) continue;
      if (e.isDirectory) walk(p);
      else if (!e.isSymlink) {
        const d = deviceOf(p);
        if (d) out.push(d);
      }
    }
  };
  walk("/dev");
  return out;
}

/** Propagation of the mount that holds `path`, from this process's mountinfo. */
function mountPropagation(path: string): "shared" | "slave" | "private" {
  let real = path;
  try {
    real = Deno.realPathSync(path);
  } catch { /* not there yet */ }
  let best = "";
  let prop: "shared" | "slave" | "private" = "private";
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    const f = line.split(" ");
    const target = f[4]?.replace(/\\040/g, " ");
    if (!target) continue;
    if (!(real === target || real.startsWith(target === "/" ? "/" : target + "/"))) continue;
    if (target.length < best.length) continue;
    best = target;
    const opt = f.slice(6, f.indexOf("-")).join(" ");
    prop = /shared:/.test(opt) ? "shared" : /master:/.test(opt) ? "slave" : "private";
  }
  return prop;
}
