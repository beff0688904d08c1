/**
 * Pod sandboxes without a pause process: a sandbox is a set of pinned namespaces (net, ipc,
 * uts) under `<state_dir>/ns/`, the pod's files (resolv.conf, hosts, hostname, a /dev/shm
 * tmpfs) under `<state_dir>/sandboxes/<id>/`, a CNI attachment, and a record in the store.
 * Only a pod that shares one PID namespace gets an infra process.
 *
 * Every step is recorded before it is taken (`phase: "creating"`), so a crash half-way is
 * undone at the next start; every failure undoes what the call made before throwing.
 */
import { cniCacheDir, type Config } from "../core/config/mod.ts";
import {
  AlreadyExistsError,
  errorMessage,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
} from "../core/errors.ts";
import { logger } from "../core/log.ts";
import type { Store } from "../store/mod.ts";
import type { PodSandboxConfig, PodSandboxState } from "./model.ts";
import {
  type CniAttachment,
  type CniCapabilityArgs,
  type CniNetworkConfig,
  CniRuntime,
  defaultBridgeNetwork,
  loadNetworkConfig,
  LOOPBACK_NETWORK,
  resultIps,
} from "../network/cni.ts";
import {
  isPinned,
  pinNamespaces,
  type PinnedNamespaces,
  prepareNamespaceDir,
  runInNamespaces,
  unpinNamespaces,
} from "../network/netns.ts";
import { hostsFile, resolvConf, writeFileAtomic } from "../network/pod_files.ts";
import type { PodCidr } from "../network/pod_cidr.ts";
import type {
  NamespaceMode,
  PodContainers,
  SandboxForContainer,
  SandboxProvider,
} from "./contracts.ts";
import {
  findLabelledInfra,
  infraAlive,
  type InfraProcess,
  pidNamespacePath,
  startInfra,
  stopInfra,
} from "./sandbox_infra.ts";
import { normalizeSysctlName, validateSysctls } from "./sandbox_sysctls.ts";
import { isMounted, mountTmpfs, unmountAll } from "../linux/mounts.ts";
import { KeyedLock } from "../core/keyed_lock.ts";

const log = logger("sandbox");

/** Size of a pod's /dev/shm, as Docker and containerd default it. */
const SHM_OPTIONS = "nosuid,nodev,noexec,mode=1777,size=65536k";

export type SandboxPhase = "creating" | "ready" | "notready";

/** The persisted record of a sandbox (collection "sandboxes"). */
export interface SandboxRecord {
  id: string;
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  phase: SandboxPhase;
  /** ms since the epoch */
  createdAt: number;
  runtimeHandler: string;
  config: PodSandboxConfig;
  namespaceModes: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  hostname: string;
  dir: string;
  ns: PinnedNamespaces;
  shmPath: string | null;
  resolvConfPath: string;
  hostsPath: string;
  hostnamePath: string;
  cgroupParent: string;
  logDirectory: string;
  sysctls: Record<string, string>;
  /** The network the pod was attached to, kept so DEL uses the same config. */
  network: CniNetworkConfig | null;
  networkSource: string;
  /** Set before CNI ADD starts, cleared after DEL succeeds: whether DEL is owed. */
  networkAttached: boolean;
  capabilityArgs: CniCapabilityArgs;
  ips: string[];
  infra: InfraProcess | null;
}

export interface SandboxFilter {
  id?: string;
  state?: PodSandboxState;
  labelSelector?: Record<string, string>;
}

export interface SandboxServiceOptions {
  config: Config;
  store: Store;
  podCidr?: PodCidr;
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

export class SandboxService implements SandboxProvider {
  private readonly config: Config;
  private readonly records;
  private readonly cni: CniRuntime;
  private readonly byName = new Map<string, string>();
  private readonly lock = new KeyedLock();
  private podContainers: PodContainers | null = null;
  private nsDirReady?: Promise<void>;
  private readonly podCidr?: PodCidr;

  constructor(opts: SandboxServiceOptions) {
    this.config = opts.config;
    this.records = opts.store.collection<SandboxRecord>("sandboxes");
    this.podCidr = opts.podCidr;
    this.cni = new CniRuntime({
      binDirs: opts.config.network.cni_bin_dirs,
      cacheDir: cniCacheDir(opts.config),
      timeoutMs: opts.config.network.plugin_timeout_seconds * 1000,
    });
  }

  /** The container service, once it exists; stop/remove skip containers until then. */
  setPodContainers(pc: PodContainers | null): void {
    this.podContainers = pc;
  }

  get nsDir(): string {
    return `${this.config.state_dir}/ns`;
  }
  get sandboxesDir(): string {
    return `${this.config.state_dir}/sandboxes`;
  }
  get ipamDataDir(): string {
    return `${this.config.root_dir}/cni/networks`;
  }

  builtInNetwork(): CniNetworkConfig | null {
    if (this.config.network.default !== "bridge") return null;
    return defaultBridgeNetwork({
      bridgeName: this.config.network.bridge_name,
      subnet: this.config.network.subnet,
      ipamDataDir: this.ipamDataDir,
    });
  }

  // -------------------------------------------------------------------------------------
  // SandboxProvider

  getSandbox(id: string): SandboxForContainer | undefined {
    const r = this.records.get(id);
    if (!r || r.phase === "creating") return undefined;
    return toSandboxForContainer(r);
  }

  /** The record, by full ID or unique ID prefix. */
  find(idOrPrefix: string): SandboxRecord | undefined {
    if (!idOrPrefix) return undefined;
    const exact = this.records.get(idOrPrefix);
    if (exact) return exact;
    const matches = this.records.list().filter((r) => r.id.startsWith(idOrPrefix));
    return matches.length === 1 ? matches[0] : undefined;
  }

  // -------------------------------------------------------------------------------------
  // Run

  async run(config: PodSandboxConfig, runtimeHandler: string): Promise<SandboxRecord> {
    const md = config.metadata;
    const missing = (["name", "namespace", "uid"] as const).filter((k) => !md?.[k]);
    if (!md || missing.length) {
      throw new InvalidArgumentError(
        `pod sandbox metadata must set ${missing.join(", ") || "name, namespace, uid"}`,
      );
    }
    const handler = runtimeHandler || this.config.runtime.default_handler;
    if (!this.config.runtime.handlers[handler]) {
      throw new InvalidArgumentError(
        `unknown runtime handler "${handler}"; configured handlers: ${
          Object.keys(this.config.runtime.handlers).join(", ")
        }`,
      );
    }
    const nsOpts = config.linux?.security_context?.namespace_options;
    const modes = {
      network: nsOpts?.network ?? "POD",
      pid: nsOpts?.pid ?? "POD",
      ipc: nsOpts?.ipc ?? "POD",
    } as const;
    const hostNetwork = modes.network === "NODE";
    const hostIpc = modes.ipc === "NODE";
    const sysctls: Record<string, string> = {};
    for (const [k, v] of Object.entries(config.linux?.sysctls ?? {})) {
      sysctls[normalizeSysctlName(k)] = v;
    }
    validateSysctls(sysctls, { hostNetwork, hostIpc });
    const resolvText = resolvConf(config.dns_config);
    for (const pm of config.port_mappings ?? []) {
      const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
      if (!ok(pm.host_port) || !ok(pm.container_port) || pm.container_port === 0) {
        throw new InvalidArgumentError(
          `port mapping ${pm.host_port}->${pm.container_port}: ports must be 1-65535 ` +
            `(host_port 0 means no host port)`,
        );
      }
    }
    const userns = nsOpts?.userns_options;
    if (userns && userns.mode === "POD" && !this.config.runtime.handlers[handler].user_namespaces) {
      throw new InvalidArgumentError(
        `runtime handler "${handler}" does not support user namespaces; configure ` +
          `[runtime.handlers.${handler}] user_namespaces = true or run the pod without one`,
      );
    }

    const attempt = md.attempt ?? 0;
    const nameKey = `${md.name}_${md.namespace}_${md.uid}_${attempt}`;
    const holder = this.byName.get(nameKey);
    if (holder) {
      throw new AlreadyExistsError(
        `pod sandbox name "${nameKey}" is already used by sandbox ${holder}; remove it first ` +
          `or use another attempt number`,
      );
    }
    const id = randomId();
    this.byName.set(nameKey, id);
    const hostname = hostNetwork ? Deno.hostname() : (config.hostname || md.name).slice(0, 63);
    const dir = `${this.sandboxesDir}/${id}`;
    const rec: SandboxRecord = {
      id,
      name: md.name,
      namespace: md.namespace,
      uid: md.uid,
      attempt,
      phase: "creating",
      createdAt: Date.now(),
      runtimeHandler: handler,
      config,
      namespaceModes: modes,
      hostname,
      dir,
      ns: { net: null, ipc: null, uts: null },
      shmPath: null,
      resolvConfPath: `${dir}/resolv.conf`,
      hostsPath: `${dir}/hosts`,
      hostnamePath: `${dir}/hostname`,
      cgroupParent: config.linux?.cgroup_parent ?? "",
      logDirectory: config.log_directory ?? "",
      sysctls,
      network: null,
      networkSource: "",
      networkAttached: false,
      capabilityArgs: {},
      ips: [],
      infra: null,
    };
    const started = performance.now();
    try {
      return await this.lock.run(id, async () => {
        await this.create(rec, { hostNetwork, hostIpc, resolvText });
        rec.phase = "ready";
        this.save(rec);
        log.info("pod sandbox ready", {
          id,
          pod: `${md.namespace}/${md.name}`,
          ips: rec.ips.join(","),
          ms: Math.round(performance.now() - started),
        });
        return rec;
      });
    } catch (err) {
      log.warn("pod sandbox creation failed; undoing", { id, error: errorMessage(err) });
      await this.lock.run(id, () => this.destroy(rec)).catch((e) =>
        log.error("undo of failed pod sandbox left resources", { id, error: errorMessage(e) })
      );
      // The name is free again even if the undo failed: the leftover record is invisible
      // (phase "creating") and the next start finishes the cleanup.
      this.releaseName(rec);
      throw err;
    }
  }

  private async create(
    rec: SandboxRecord,
    o: { hostNetwork: boolean; hostIpc: boolean; resolvText: string | null },
  ): Promise<void> {
    const config = rec.config;
    // Load and check the network first: a broken CNI config fails before any side effect.
    if (!o.hostNetwork) {
      const { config: net, source } = await loadNetworkConfig({
        confDir: this.config.network.cni_conf_dir,
        builtIn: this.builtInNetwork(),
      });
      this.cni.validate(net);
      this.cni.validate(LOOPBACK_NETWORK);
      rec.network = net;
      rec.networkSource = source;
    }
    // Everything this sandbox may create is planned and recorded before the first side
    // effect (one fsync'ed write, not one per step): if Skiff dies from here on, start-up
    // recovery undoes whatever of it exists. The record owes a CNI DEL from here on (a DEL
    // of an attachment never added is harmless); this process knows better and tracks it.
    rec.ns = {
      net: o.hostNetwork ? null : `${this.nsDir}/${rec.id}-net`,
      ipc: o.hostIpc ? null : `${this.nsDir}/${rec.id}-ipc`,
      uts: o.hostNetwork ? null : `${this.nsDir}/${rec.id}-uts`,
    };
    rec.shmPath = o.hostIpc ? null : `${rec.dir}/shm`;
    rec.capabilityArgs = rec.network ? this.capabilityArgs(config) : {};
    rec.networkAttached = rec.network !== null;
    this.save(rec);
    rec.networkAttached = false;

    await Deno.mkdir(rec.dir, { recursive: true, mode: 0o755 });
    // Once per process: two concurrent first pods must not stack two bind mounts.
    this.nsDirReady ??= prepareNamespaceDir(this.nsDir).catch((err) => {
      this.nsDirReady = undefined;
      throw err;
    });
    await this.nsDirReady;
    rec.ns = await pinNamespaces(this.nsDir, rec.id, {
      net: !o.hostNetwork,
      ipc: !o.hostIpc,
      uts: !o.hostNetwork,
    }, rec.hostname);
    if (rec.shmPath) await mountTmpfs(rec.shmPath, SHM_OPTIONS);
    await writeFileAtomic(rec.hostnamePath, rec.hostname + "\n");
    await writeFileAtomic(
      rec.resolvConfPath,
      o.resolvText ?? await Deno.readTextFile("/etc/resolv.conf").catch(() => ""),
    );

    if (Object.keys(rec.sysctls).length) {
      const r = await runInNamespaces(
        rec.ns,
        ["sysctl", "-w", ...Object.entries(rec.sysctls).map(([k, v]) => `${k}=${v}`)],
      );
      if (!r.ok) {
        throw new InvalidArgumentError(`cannot apply the pod's sysctls: ${r.text}`);
      }
    }

    if (rec.network && rec.ns.net) {
      rec.networkAttached = true;
      await this.cni.add(LOOPBACK_NETWORK, this.attachment(rec, "lo"));
      const result = await this.cni.add(rec.network, this.attachment(rec, "eth0"));
      rec.ips = resultIps(result);
    }
    await writeFileAtomic(
      rec.hostsPath,
      o.hostNetwork
        ? await Deno.readTextFile("/etc/hosts").catch(() => hostsFile(rec.hostname, []))
        : hostsFile(rec.hostname, rec.ips),
    );

    if (rec.namespaceModes.pid === "POD") {
      // Not recorded until the sandbox is: a crash in between leaves an infra process that
      // start-up recovery finds by its SKIFF_SANDBOX_ID label and kills.
      rec.infra = await startInfra(rec.ns, {
        sandboxId: rec.id,
        stateDir: this.config.state_dir,
      });
    }
  }

  private capabilityArgs(config: PodSandboxConfig): CniCapabilityArgs {
    const caps: CniCapabilityArgs = {};
    const ports = (config.port_mappings ?? []).filter((p) => p.host_port > 0);
    if (ports.length) {
      caps.portMappings = ports.map((p) => ({
        hostPort: p.host_port,
        containerPort: p.container_port,
        protocol: (p.protocol ?? "TCP").toLowerCase(),
        ...(p.host_ip ? { hostIP: p.host_ip } : {}),
      }));
    }
    const dns = config.dns_config;
    if (dns && (dns.servers?.length || dns.searches?.length || dns.options?.length)) {
      caps.dns = {
        servers: dns.servers ?? [],
        searches: dns.searches ?? [],
        options: dns.options ?? [],
      };
    }
    const ingress = parseBandwidth(config.annotations?.["kubernetes.io/ingress-bandwidth"]);
    const egress = parseBandwidth(config.annotations?.["kubernetes.io/egress-bandwidth"]);
    if (ingress !== null || egress !== null) {
      // As containerd: a burst as large as the plugin takes, so the rate is what limits.
      caps.bandwidth = {
        ...(ingress !== null ? { ingressRate: ingress, ingressBurst: 2147483647 } : {}),
        ...(egress !== null ? { egressRate: egress, egressBurst: 2147483647 } : {}),
      };
    }
    const cidrs = this.podCidr?.get() ?? [];
    if (cidrs.length) caps.ipRanges = cidrs.map((subnet) => [{ subnet }]);
    return caps;
  }

  private attachment(rec: SandboxRecord, ifName: string): CniAttachment {
    return {
      containerId: rec.id,
      netnsPath: rec.ns.net ?? "",
      ifName,
      args: [
        ["IgnoreUnknown", "1"],
        ["K8S_POD_NAMESPACE", rec.namespace],
        ["K8S_POD_NAME", rec.name],
        ["K8S_POD_INFRA_CONTAINER_ID", rec.id],
        ["K8S_POD_UID", rec.uid],
      ],
      capabilityArgs: ifName === "lo" ? {} : rec.capabilityArgs,
    };
  }

  // -------------------------------------------------------------------------------------
  // Stop, remove

  /** Idempotent: unknown IDs and stopped sandboxes succeed. */
  async stop(idOrPrefix: string): Promise<void> {
    const found = this.find(idOrPrefix);
    if (!found) return;
    await this.lock.run(found.id, async () => {
      const rec = this.records.get(found.id);
      if (!rec) return;
      await this.stopLocked(rec);
    });
  }

  private async stopLocked(rec: SandboxRecord): Promise<void> {
    // kubelet has stopped the containers with their grace periods already; what is left
    // is killed at once, as containerd does.
    await this.podContainers?.stopPodContainers(rec.id, 0);
    if (rec.infra) await stopInfra(rec.infra);
    await this.teardownNetwork(rec);
    if (rec.phase !== "notready") {
      rec.phase = "notready";
      this.save(rec);
      log.info("pod sandbox stopped", { id: rec.id, pod: `${rec.namespace}/${rec.name}` });
    }
  }

  private async teardownNetwork(rec: SandboxRecord): Promise<void> {
    if (!rec.networkAttached || !rec.network) return;
    // A namespace lost meanwhile (a reboot wiped the state dir) is passed as "": plugins
    // then release what lives outside it (IPs, iptables rules) without failing on it.
    const netnsGone = !rec.ns.net || !await isPinned(rec.ns.net);
    const eth0 = { ...this.attachment(rec, "eth0"), ...(netnsGone ? { netnsPath: "" } : {}) };
    await this.cni.del(rec.network, eth0);
    if (!netnsGone) {
      await this.cni.del(LOOPBACK_NETWORK, this.attachment(rec, "lo")).catch(() => {});
    } else {
      await this.cni.forget(LOOPBACK_NETWORK, this.attachment(rec, "lo"));
    }
    rec.networkAttached = false;
    rec.ips = [];
    this.save(rec);
  }

  /** Idempotent: stops if needed, removes containers, unpins namespaces, deletes all. */
  async remove(idOrPrefix: string): Promise<void> {
    const found = this.find(idOrPrefix);
    if (!found) return;
    await this.lock.run(found.id, async () => {
      const rec = this.records.get(found.id);
      if (!rec) return;
      await this.podContainers?.removePodContainers(rec.id);
      await this.destroy(rec);
      log.info("pod sandbox removed", { id: rec.id, pod: `${rec.namespace}/${rec.name}` });
    });
  }

  /**
   * Undoes everything a record says exists, then forgets it. Every step is tried; when one
   * fails the record is kept (so a later remove or the next start retries) and this throws.
   */
  private async destroy(rec: SandboxRecord): Promise<void> {
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(`${what}: ${errorMessage(err)}`);
      }
    };
    if (rec.infra) await step("infra process", () => stopInfra(rec.infra!));
    await step("network", () => this.teardownNetwork(rec));
    if (rec.shmPath) await step("/dev/shm", () => unmountAll(rec.shmPath!));
    await step("namespaces", () => unpinNamespaces(rec.ns));
    await step("files", () =>
      Deno.remove(rec.dir, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }));
    if (errors.length) {
      this.save(rec);
      throw new InternalError(
        `pod sandbox ${rec.id} could not be fully removed (retry RemovePodSandbox): ${
          errors.join("; ")
        }`,
      );
    }
    this.records.delete(rec.id);
    this.releaseName(rec);
  }

  private releaseName(rec: SandboxRecord): void {
    const key = `${rec.name}_${rec.namespace}_${rec.uid}_${rec.attempt}`;
    if (this.byName.get(key) === rec.id) this.byName.delete(key);
  }

  // -------------------------------------------------------------------------------------
  // Status, list

  status(idOrPrefix: string): SandboxRecord {
    const rec = this.find(idOrPrefix);
    if (!rec || rec.phase === "creating") {
      throw new NotFoundError(`pod sandbox ${JSON.stringify(idOrPrefix)} not found`);
    }
    return rec;
  }

  list(filter: SandboxFilter = {}): SandboxRecord[] {
    let recs = this.records.list().filter((r) => r.phase !== "creating");
    if (filter.id) {
      const one = this.find(filter.id);
      recs = one && one.phase !== "creating" ? [one] : [];
    }
    if (filter.state) recs = recs.filter((r) => stateOf(r) === filter.state);
    const sel = Object.entries(filter.labelSelector ?? {});
    if (sel.length) {
      recs = recs.filter((r) => sel.every(([k, v]) => (r.config.labels ?? {})[k] === v));
    }
    return recs;
  }

  /** Everything an operator wants to know, for PodSandboxStatus verbose. */
  verboseInfo(rec: SandboxRecord): Record<string, unknown> {
    return {
      pid: rec.infra?.pid ?? 0,
      runtimeHandler: rec.runtimeHandler,
      phase: rec.phase,
      namespaces: rec.ns,
      pidNamespace: rec.infra ? pidNamespacePath(rec.infra) : null,
      shmPath: rec.shmPath,
      resolvConfPath: rec.resolvConfPath,
      hostsPath: rec.hostsPath,
      hostnamePath: rec.hostnamePath,
      cgroupParent: rec.cgroupParent,
      network: rec.network ? { name: rec.network.name, source: rec.networkSource } : null,
      cniCapabilityArgs: rec.capabilityArgs,
      ips: rec.ips,
      sysctls: rec.sysctls,
      config: rec.config,
    };
  }

  // -------------------------------------------------------------------------------------
  // Recovery

  /**
   * At start: finishes the undo of sandboxes a crash interrupted, rechecks the others'
   * namespaces and infra processes, and removes leftovers no record owns.
   */
  async recover(): Promise<void> {
    const recs = this.records.list();
    for (const rec of recs) {
      if (rec.phase === "creating") {
        log.warn("cleaning up a pod sandbox whose creation was interrupted", { id: rec.id });
        await this.destroy(rec).catch((e) =>
          log.error("cleanup of interrupted pod sandbox failed", {
            id: rec.id,
            error: errorMessage(e),
          })
        );
        continue;
      }
      this.byName.set(`${rec.name}_${rec.namespace}_${rec.uid}_${rec.attempt}`, rec.id);
      if (rec.phase !== "ready") continue;
      const lost: string[] = [];
      for (const p of [rec.ns.net, rec.ns.ipc, rec.ns.uts]) {
        if (p && !await isPinned(p)) lost.push(p);
      }
      if (rec.shmPath && !await isMounted(rec.shmPath)) lost.push(rec.shmPath);
      if (rec.infra && !infraAlive(rec.infra)) lost.push(`infra process ${rec.infra.pid}`);
      if (lost.length) {
        log.warn("pod sandbox lost parts while Skiff was down; marking it not ready", {
          id: rec.id,
          lost: lost.join(","),
        });
        rec.phase = "notready";
        this.save(rec);
      }
    }
    await this.removeOrphans();
    const live = this.records.list().filter((r) => r.phase === "ready" && r.networkAttached);
    log.info("pod sandboxes recovered", { total: this.records.count(), networked: live.length });
    // CNI CHECK of the recovered attachments runs in the background: start-up does not
    // wait for plugins, and a failed CHECK is reported, not acted on (kubelet decides).
    if (live.length) {
      this.recoveryCheck = this.checkNetworks().then((failed) =>
        log.info("CNI CHECK of recovered pod sandboxes done", {
          checked: live.length,
          failed: failed.length,
        })
      ).catch((err) =>
        log.warn("CNI CHECK of recovered pod sandboxes stopped", {
          error: errorMessage(err),
        })
      );
    }
  }

  /** The background CHECK started by recover(), for callers that want to wait for it. */
  recoveryCheck: Promise<void> = Promise.resolve();

  /** CNI CHECK of every ready sandbox's attachment; returns the IDs that failed. */
  async checkNetworks(): Promise<string[]> {
    const failed: string[] = [];
    for (const rec of this.records.list()) {
      if (rec.phase !== "ready" || !rec.networkAttached || !rec.network) continue;
      try {
        await this.lock.run(
          rec.id,
          () => this.cni.check(rec.network!, this.attachment(rec, "eth0")),
        );
      } catch (err) {
        failed.push(rec.id);
        log.warn("CNI CHECK failed", { id: rec.id, error: errorMessage(err) });
      }
    }
    return failed;
  }

  private async removeOrphans(): Promise<void> {
    const records = this.records.list();
    const known = new Set(records.map((r) => r.id));
    // Infra processes whose sandbox no longer counts on them (never recorded because of a
    // crash, or their sandbox is gone): found by label, killed.
    const liveInfra = new Set(
      records.filter((r) => r.infra && infraAlive(r.infra)).map((r) => r.id),
    );
    for (const p of findLabelledInfra(this.config.state_dir)) {
      if (liveInfra.has(p.sandboxId)) continue;
      log.warn("killing an infra process no sandbox owns", { pid: p.pid, id: p.sandboxId });
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    for (const dir of [this.sandboxesDir, this.nsDir]) {
      let entries: Deno.DirEntry[] = [];
      try {
        entries = [...Deno.readDirSync(dir)];
      } catch {
        continue;
      }
      for (const e of entries) {
        const id = e.name.split("-")[0];
        if (known.has(id)) continue;
        const path = `${dir}/${e.name}`;
        log.warn("removing a pod sandbox leftover no record owns", { path });
        try {
          if (dir === this.nsDir) {
            await unpinNamespaces({ net: path, ipc: null, uts: null });
          } else {
            await unmountAll(`${path}/shm`);
            await Deno.remove(path, { recursive: true });
          }
        } catch (err) {
          log.error("cannot remove leftover", { path, error: errorMessage(err) });
        }
      }
    }
  }

  private save(rec: SandboxRecord): void {
    this.records.put(rec.id, rec);
  }
}

export function stateOf(r: SandboxRecord): PodSandboxState {
  return r.phase === "ready" ? "SANDBOX_READY" : "SANDBOX_NOTREADY";
}

function toSandboxForContainer(r: SandboxRecord): SandboxForContainer {
  return {
    id: r.id,
    name: r.name,
    namespace: r.namespace,
    uid: r.uid,
    state: stateOf(r),
    runtimeHandler: r.runtimeHandler,
    netnsPath: r.ns.net,
    ipcnsPath: r.ns.ipc,
    utsnsPath: r.ns.uts,
    pidnsPath: r.infra ? pidNamespacePath(r.infra) : null,
    hostNetwork: r.namespaceModes.network === "NODE",
    hostIpc: r.namespaceModes.ipc === "NODE",
    hostPid: r.namespaceModes.pid === "NODE",
    hostname: r.hostname,
    resolvConfPath: r.resolvConfPath,
    hostsPath: r.hostsPath,
    hostnamePath: r.hostnamePath,
    shmPath: r.shmPath,
    cgroupParent: r.cgroupParent,
    logDirectory: r.logDirectory,
    sysctls: r.sysctls,
    labels: r.config.labels ?? {},
    annotations: r.config.annotations ?? {},
  };
}

/** A Kubernetes quantity (e.g. "10M", "1Gi", "500k") in bits per second, or null. */
export function parseBandwidth(q: string | undefined): number | null {
  if (!q) return null;
  const m = /^(\d+(?:\.\d+)?)([kMGTP]i?)?$/.exec(q.trim());
  if (!m) {
    throw new InvalidArgumentError(`bandwidth annotation ${JSON.stringify(q)} is not a quantity`);
  }
  const mult: Record<string, number> = {
    "": 1,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
    Pi: 1024 ** 5,
  };
  return Math.round(Number(m[1]) * mult[m[2] ?? ""]);
}
