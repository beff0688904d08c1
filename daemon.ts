/**
 * Composes one running Skiff: config → store → domain services → CRI server + admin API.
 * `main.ts` owns the process (signals, exit codes); this owns the parts and their order.
 *
 * The graph is built once, in dependency order, with no setters: where two services need
 * each other (sandboxes stop their containers; images ask which containers use them), the
 * one built first gets a small interface that is only called after start-up. Every step
 * that starts something registers how to undo it, and one `try` covers them all, so a
 * failure anywhere in start-up stops what had started, in reverse order.
 */
import { adminTokenFile, type Config, databaseFile, parseHostPort } from "./core/config/mod.ts";
import { acquireInstanceLock } from "./core/instance_lock.ts";
import { type Logger, logger } from "./core/log.ts";
import { MetricsRegistry } from "./core/metrics.ts";
import { releaseMemoryWhenQuiet } from "./core/memory.ts";
import { clearStaleSocket, CriServer } from "./cri/server.ts";
import type { CriHandlers } from "./cri/handler.ts";
import { runtimeInfoHandlers } from "./cri/handlers/runtime_info.ts";
import { sandboxHandlers } from "./cri/handlers/sandbox.ts";
import { containerHandlers } from "./cri/handlers/container.ts";
import { statsHandlers } from "./cri/handlers/stats.ts";
import { eventsHandlers } from "./cri/handlers/events.ts";
import { maintenanceHandlers } from "./cri/handlers/maintenance.ts";
import { imageHandlers } from "./cri/handlers/image.ts";
import { streamingHandlers } from "./cri/handlers/streaming.ts";
import { markAllDescriptorsCloexec } from "./linux/cloexec.ts";
import { raiseFileLimit } from "./linux/rlimit.ts";
import { containerMetrics, ContainerService, phaseOf } from "./runtime/container/mod.ts";
import type { ImageUsage, PodContainers } from "./runtime/contracts.ts";
import { ContainerEventBus } from "./runtime/events.ts";
import { ExitWatcher } from "./runtime/exit_watcher.ts";
import { ContainerMaintenance } from "./runtime/maintenance.ts";
import { countBy, NodeMetrics } from "./runtime/node_metrics.ts";
import { runtimeReadiness, SandboxService } from "./runtime/mod.ts";
import { stateOf } from "./runtime/sandbox/mod.ts";
import { hostCgroupVersion, StatsCollector } from "./runtime/stats/mod.ts";
import { ServiceStatsTargets } from "./runtime/stats/targets.ts";
import { type ImageService, openImageService } from "./image/mod.ts";
import { observeCniCalls } from "./network/cni.ts";
import { networkReadiness, PodCidr } from "./network/mod.ts";
import { runtimeStreamingBackend, StreamingServer } from "./streaming/mod.ts";
import { Store } from "./store/mod.ts";
import {
  AdminHttpServer,
  FileAuditLog,
  lazyAdminApp,
  loadOrCreateToken,
  pullProgressFrom,
} from "./admin/mod.ts";

export interface Daemon {
  config: Config;
  cri: CriServer;
  store: Store;
  metrics: MetricsRegistry;
  /** host:port the admin API listens on, or null when disabled. */
  adminAddress: string | null;
  stop(graceMs?: number): Promise<void>;
}

/** What start-up made, undone in reverse order on failure or at stop. */
class Cleanups {
  private readonly steps: (() => Promise<void> | void)[] = [];
  push(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  async run(log: Logger): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn("clean-up step failed", { err: String(err) });
      }
    }
  }
}

/** The parts every service stands on. */
interface Foundation {
  config: Config;
  log: Logger;
  metrics: MetricsRegistry;
  store: Store;
  podCidr: PodCidr;
  events: ContainerEventBus;
}

interface Services {
  sandboxes: SandboxService;
  images: ImageService;
  containers: ContainerService;
  stats: StatsCollector;
  maintenance: ContainerMaintenance;
}

export async function startDaemon(config: Config): Promise<Daemon> {
  const log = logger("skiff");
  const cleanups = new Cleanups();
  const state = { serving: false };
  try {
    const base = await openFoundation(config, log, cleanups);
    const services = await openServices(base, cleanups);
    startNodeMetrics(base, services, cleanups);
    const streaming = await startStreaming(base, services, cleanups);
    const handlers = criHandlers(base, services, streaming);
    const cri = await startCri(base, handlers, cleanups);
    state.serving = true;
    const adminAddress = await startAdmin(base, services, handlers, state, cleanups);
    startCloexecSweep(cleanups);
    startMemoryRelease(log, cleanups);
    return {
      config,
      cri,
      store: base.store,
      metrics: base.metrics,
      adminAddress,
      async stop(graceMs = config.shutdown_grace_seconds * 1000) {
        state.serving = false;
        // Event streams never end by themselves: end them so shutdown need not wait out the grace.
        base.events.closeAll();
        await cri.stop(graceMs);
        await cleanups.run(log);
        log.info("stopped");
      },
    };
  } catch (err) {
    await cleanups.run(log);
    throw err;
  }
}

async function openFoundation(
  config: Config,
  log: Logger,
  cleanups: Cleanups,
): Promise<Foundation> {
  // Every connection is a descriptor: use all the system allows (connection caps bound it).
  const files = raiseFileLimit();
  log.info("open files limit", { soft: files.soft, hard: files.hard });
  await Deno.mkdir(config.root_dir, { recursive: true, mode: 0o711 });
  await Deno.mkdir(config.state_dir, { recursive: true, mode: 0o711 });
  // Refuse a second Skiff before recovery could disturb the running one's pods.
  const instanceLock = await acquireInstanceLock(config.root_dir);
  cleanups.push(() => instanceLock.release());
  await clearStaleSocket(config.socket);
  const store = new Store(databaseFile(config));
  cleanups.push(() => store.close());
  const events = new ContainerEventBus();
  cleanups.push(() => events.closeAll());
  return { config, log, metrics: new MetricsRegistry(), store, podCidr: new PodCidr(), events };
}

/** The domain services, each recovered from the store before anything is served. */
async function openServices(base: Foundation, cleanups: Cleanups): Promise<Services> {
  const { config, store, log, events, metrics } = base;
  // Sandboxes ask their containers to stop only on StopPodSandbox/RemovePodSandbox, and
  // RemoveImage asks which containers use an image: both only after start-up.
  const podContainers: PodContainers = {
    stopPodContainers: (id, timeout) => containers.stopPodContainers(id, timeout),
    removePodContainers: (id) => containers.removePodContainers(id),
  };
  const usage: ImageUsage = { containersUsingImage: (id) => containers.containersUsingImage(id) };
  // Half-made sandboxes undone, namespaces and networks of ready ones checked.
  const sandboxes = new SandboxService({
    config,
    store,
    podCidr: base.podCidr,
    podContainers: () => podContainers,
    events,
  });
  await sandboxes.recover();
  // Leftovers of interrupted pulls removed and unreferenced content collected.
  const images = openImageService({
    config: () => config,
    store,
    log: log.child("image"),
    metrics,
    usage,
  });
  // Reloaded; exits that happened while Skiff was away settled; half-made ones undone.
  const containers: ContainerService = new ContainerService({
    config,
    store,
    images,
    sandboxes,
    log: log.child("container"),
    events,
    metrics: containerMetrics(metrics),
  });
  await containers.recover();
  // Stops the removals' cleanup queue before the store closes (what is left is resumed at start).
  cleanups.push(() => containers.close());
  await watchExits(containers, log, cleanups);
  const stats = new StatsCollector(new ServiceStatsTargets(() => containers, sandboxes), {
    writableLayerMount: config.root_dir,
  });
  const maintenance = new ContainerMaintenance({
    containers: () => containers,
    sandboxExists: (id) => sandboxes.find(id) !== undefined,
    cgroupV2: hostCgroupVersion() === 2,
  });
  return { sandboxes, images, containers, stats, maintenance };
}

/**
 * Containers that exit on their own are settled (and CONTAINER_STOPPED_EVENT published) as
 * soon as conmon writes their exit file, not at the next status call.
 */
async function watchExits(
  containers: ContainerService,
  log: Logger,
  cleanups: Cleanups,
): Promise<void> {
  const exitWatcher = new ExitWatcher({
    dir: containers.exitsDir,
    onExit: (id) => {
      containers.settle(id);
      return phaseOf(containers.get(id)) !== "running";
    },
    log: log.child("exits"),
    rescanMs: 10_000,
  });
  await exitWatcher.start();
  containers.watchExits();
  cleanups.push(() => exitWatcher.close());
}

/** Pods/containers by state, conmon processes, RSS, loop lag, event subscribers, CNI calls. */
function startNodeMetrics(base: Foundation, s: Services, cleanups: Cleanups): void {
  const nodeMetrics = new NodeMetrics({
    registry: base.metrics,
    events: base.events,
    podsByState: () => countBy(s.sandboxes.list().map(stateOf)),
    containersByState: () => countBy(s.containers.list().map((c) => c.state)),
    stateDir: base.config.state_dir,
  });
  nodeMetrics.start();
  observeCniCalls((op, plugin, seconds, ok) => nodeMetrics.observeCni(op, plugin, seconds, ok));
  cleanups.push(() => {
    observeCniCalls(null);
    nodeMetrics.stop();
  });
}

/** The exec/attach/port-forward server whose URLs kubelet proxies to. */
async function startStreaming(
  base: Foundation,
  s: Services,
  cleanups: Cleanups,
): Promise<StreamingServer> {
  const cfg = base.config.streaming;
  const streaming = new StreamingServer({
    address: cfg.address,
    tlsCert: cfg.tls_cert ? await Deno.readTextFile(cfg.tls_cert) : undefined,
    tlsKey: cfg.tls_key ? await Deno.readTextFile(cfg.tls_key) : undefined,
    idleTimeoutMs: cfg.idle_timeout_seconds * 1000,
    streamCreationTimeoutMs: cfg.stream_creation_timeout_seconds * 1000,
    maxPendingConnections: cfg.max_pending_connections,
    requestHeaderTimeoutMs: cfg.request_header_timeout_seconds * 1000,
    backend: runtimeStreamingBackend({ containers: s.containers, sandboxes: s.sandboxes }),
    log: base.log.child("streaming"),
  });
  cleanups.push(() => streaming.stop());
  await streaming.start();
  return streaming;
}

/** Every CRI RPC, each group translating protobuf ⇄ one service. */
function criHandlers(base: Foundation, s: Services, streaming: StreamingServer): CriHandlers {
  const { config, log } = base;
  return {
    ...runtimeInfoHandlers({
      config: () => config,
      network: () => networkReadiness(config),
      runtime: () => runtimeReadiness(config),
      podCidr: base.podCidr,
      log: log.child("cri"),
    }),
    ...sandboxHandlers(s.sandboxes),
    ...imageHandlers({ images: s.images }),
    ...containerHandlers(s.containers),
    ...statsHandlers({ collector: s.stats, images: s.images }),
    ...eventsHandlers({
      bus: base.events,
      sandboxes: s.sandboxes,
      containers: s.containers,
      log: log.child("cri"),
    }),
    ...maintenanceHandlers(s.maintenance),
    ...streamingHandlers({ containers: s.containers, sandboxes: s.sandboxes, server: streaming }),
  };
}

async function startCri(
  base: Foundation,
  handlers: CriHandlers,
  cleanups: Cleanups,
): Promise<CriServer> {
  const { config } = base;
  const cri = new CriServer({
    socket: config.socket,
    handlers,
    metrics: base.metrics,
    log: base.log.child("cri"),
  });
  // Stopping a server that never started is a no-op; a normal stop has stopped it already.
  cleanups.push(() => cri.stop(0));
  await cri.start();
  return cri;
}

/** The admin API and dashboard, when configured; returns the address it listens on. */
async function startAdmin(
  base: Foundation,
  s: Services,
  handlers: CriHandlers,
  state: { serving: boolean },
  cleanups: Cleanups,
): Promise<string | null> {
  const { config, log } = base;
  if (!config.admin.address) return null;
  const fetch = lazyAdminApp({
    metrics: base.metrics,
    token: await loadOrCreateToken(adminTokenFile(config)),
    metricsRequireToken: config.admin.metrics_require_token,
    // The admin API is a second front door onto the same CRI handlers.
    handlers,
    corsOrigins: config.admin.cors_origins,
    audit: FileAuditLog.forConfig(config, log.child("admin")),
    pullProgress: pullProgressFrom(s.images.progress),
    log: log.child("admin"),
    ready: () => {
      const rt = runtimeReadiness(config);
      return {
        ready: state.serving && rt.ready,
        checks: {
          cri: { ok: state.serving, message: state.serving ? "" : "CRI server is not serving" },
          runtime: { ok: rt.ready, message: rt.message },
        },
      };
    },
  });
  const hp = parseHostPort(config.admin.address)!;
  const tls = config.admin.tls_cert
    ? {
      cert: await Deno.readTextFile(config.admin.tls_cert),
      key: await Deno.readTextFile(config.admin.tls_key),
    }
    : undefined;
  // node:http, not Deno.serve: connections must be counted and refused (see http_server.ts).
  const srv = new AdminHttpServer({
    hostname: hp.hostname,
    port: hp.port,
    tls,
    fetch,
    maxPendingConnections: config.admin.max_pending_connections,
    requestHeaderTimeoutMs: config.admin.request_header_timeout_seconds * 1000,
    log: log.child("admin"),
  });
  const addr = await srv.start();
  cleanups.push(() => srv.stop());
  const address = addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
  log.info("admin API listening", { address });
  return address;
}

/**
 * Children must not inherit the CRI socket or client connections (see linux/cloexec.ts);
 * sockets accepted later are marked by the sweep.
 */
function startCloexecSweep(cleanups: Cleanups): void {
  markAllDescriptorsCloexec();
  const sweep = setInterval(() => {
    try {
      markAllDescriptorsCloexec();
    } catch {
      // Out of descriptors (listing /proc/self/fd needs one): the next sweep catches up.
    }
  }, 2000);
  Deno.unrefTimer(sweep);
  cleanups.push(() => clearInterval(sweep));
}

/** Memory goes back to the system once the node is quiet again (core/memory.ts). */
function startMemoryRelease(log: Logger, cleanups: Cleanups): void {
  const stop = releaseMemoryWhenQuiet({
    startUpWasWork: true,
    onRelease: (ms, executableKib) =>
      log.debug("memory released", {
        ms: Math.round(ms),
        executable_kib_dropped: executableKib,
        rss: Deno.memoryUsage().rss,
      }),
  });
  cleanups.push(stop);
}
