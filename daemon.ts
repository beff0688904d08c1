/**
 * Composes one running Skiff: config → store → domain services → CRI server + admin API.
 * `main.ts` owns the process (signals, exit codes); this owns the parts and their order.
 */
import {
  adminTokenFile,
  type Config,
  databaseFile,
  internalCriSocket,
  parseHostPort,
} from "./core/config/mod.ts";
import { logger } from "./core/log.ts";
import { MetricsRegistry } from "./core/metrics.ts";
import { clearStaleSocket, CriServer } from "./cri/server.ts";
import { acquireInstanceLock } from "./core/instance_lock.ts";
import { markAllDescriptorsCloexec } from "./linux/cloexec.ts";
import type { CriHandlers } from "./cri/handler.ts";
import { runtimeInfoHandlers } from "./cri/handlers/runtime_info.ts";
import { sandboxHandlers } from "./cri/handlers/sandbox.ts";
import { containerHandlers } from "./cri/handlers/container.ts";
import { containerMetrics, ContainerService } from "./runtime/container/mod.ts";
import { ContainerEventBus } from "./runtime/events.ts";
import { ExitWatcher } from "./runtime/exit_watcher.ts";
import { ContainerMaintenance } from "./runtime/maintenance.ts";
import { hostCgroupVersion, StatsCollector } from "./runtime/stats/mod.ts";
import { ServiceStatsTargets } from "./runtime/stats/targets.ts";
import { countBy, NodeMetrics } from "./runtime/node_metrics.ts";
import { stateOf } from "./runtime/sandbox/mod.ts";
import type { PodContainers } from "./runtime/contracts.ts";
import { observeCniCalls } from "./network/cni.ts";
import { statsHandlers } from "./cri/handlers/stats.ts";
import { eventsHandlers } from "./cri/handlers/events.ts";
import { maintenanceHandlers } from "./cri/handlers/maintenance.ts";
import { imageHandlers } from "./cri/handlers/image.ts";
import { streamingHandlers } from "./cri/handlers/streaming.ts";
import { runtimeStreamingBackend, StreamingServer } from "./streaming/mod.ts";
import { openImageService } from "./image/mod.ts";
import { SandboxService } from "./runtime/mod.ts";
import { Store } from "./store/mod.ts";
import { networkReadiness, PodCidr } from "./network/mod.ts";
import { runtimeReadiness } from "./runtime/mod.ts";
import { createAdminApp, FileAuditLog, loadOrCreateToken, pullProgressFrom } from "./admin/mod.ts";

export interface Daemon {
  config: Config;
  cri: CriServer;
  store: Store;
  metrics: MetricsRegistry;
  /** host:port the admin API listens on, or null when disabled. */
  adminAddress: string | null;
  stop(graceMs?: number): Promise<void>;
}

export async function startDaemon(config: Config): Promise<Daemon> {
  const log = logger("skiff");
  await Deno.mkdir(config.root_dir, { recursive: true, mode: 0o711 });
  await Deno.mkdir(config.state_dir, { recursive: true, mode: 0o711 });

  // Refuse a second Skiff before recovery below could disturb the running one's pods.
  const instanceLock = await acquireInstanceLock(config.root_dir);
  await clearStaleSocket(config.socket);

  const metrics = new MetricsRegistry();
  const store = new Store(databaseFile(config));
  const podCidr = new PodCidr();
  const cleanups: (() => Promise<void> | void)[] = [
    () => instanceLock.release(),
    () => store.close(),
  ];
  const containerEvents = new ContainerEventBus();
  // Pod sandboxes: recovered from the store (and half-made ones undone) before serving.
  // They publish their own events; their containers are asked for only on stop/remove.
  const sandboxes = new SandboxService({
    config,
    store,
    podCidr,
    podContainers: (): PodContainers => containers,
    events: containerEvents,
  });
  await sandboxes.recover();
  // Images: leftovers of interrupted pulls removed and unreferenced content collected.
  const images = openImageService({
    config: () => config,
    store,
    log: log.child("image"),
    metrics,
  });
  // Containers: reloaded, exits that happened while Skiff was away settled, half-made undone.
  const containers = new ContainerService({
    config,
    store,
    images,
    sandboxes,
    log: log.child("container"),
    events: containerEvents,
    metrics: containerMetrics(metrics),
  });
  await containers.recover();
  images.setImageUsage(containers);
  // Containers that exit on their own are settled (and CONTAINER_STOPPED_EVENT published) as
  // soon as conmon writes their exit file, not at the next status call.
  const exitWatcher = new ExitWatcher({
    dir: containers.exitsDir,
    onExit: (id) => {
      containers.settle(id);
      return containers.get(id).state !== "CONTAINER_RUNNING";
    },
    log: log.child("exits"),
    rescanMs: 10_000,
  });
  await exitWatcher.start();
  cleanups.push(() => exitWatcher.close());
  // Stats from cgroups/netns/writable layers; resource updates, log reopen, checkpoints.
  const stats = new StatsCollector(new ServiceStatsTargets(() => containers, sandboxes), {
    writableLayerMount: config.root_dir,
  });
  const maintenance = new ContainerMaintenance({
    containers: () => containers,
    sandboxExists: (id) => sandboxes.find(id) !== undefined,
    cgroupV2: hostCgroupVersion() === 2,
  });

  // CRI streaming server: the exec/attach/port-forward URLs kubelet proxies to.
  const streaming = new StreamingServer({
    address: config.streaming.address,
    tlsCert: config.streaming.tls_cert
      ? await Deno.readTextFile(config.streaming.tls_cert)
      : undefined,
    tlsKey: config.streaming.tls_key
      ? await Deno.readTextFile(config.streaming.tls_key)
      : undefined,
    idleTimeoutMs: config.streaming.idle_timeout_seconds * 1000,
    streamCreationTimeoutMs: config.streaming.stream_creation_timeout_seconds * 1000,
    backend: runtimeStreamingBackend({ containers, sandboxes }),
    log: log.child("streaming"),
  });
  await streaming.start();
  cleanups.push(() => streaming.stop());

  const handlers: CriHandlers = {
    ...runtimeInfoHandlers({
      config: () => config,
      network: () => networkReadiness(config),
      runtime: () => runtimeReadiness(config),
      podCidr,
      log: log.child("cri"),
    }),
    ...sandboxHandlers(sandboxes),
    ...imageHandlers({ images }),
    ...containerHandlers(containers),
    ...statsHandlers({ collector: stats }),
    ...eventsHandlers({ bus: containerEvents, handlers: () => handlers, log: log.child("cri") }),
    ...maintenanceHandlers(maintenance),
    ...streamingHandlers({ containers, sandboxes, server: streaming }),
  };
  // Pods/containers by state, conmon processes, RSS, loop lag, event subscribers, CNI calls.
  const nodeMetrics = new NodeMetrics({
    registry: metrics,
    events: containerEvents,
    podsByState: () => countBy(sandboxes.list().map(stateOf)),
    containersByState: () => countBy(containers.list().map((c) => c.state)),
    stateDir: config.state_dir,
  });
  nodeMetrics.start();
  observeCniCalls((op, plugin, seconds, ok) => nodeMetrics.observeCni(op, plugin, seconds, ok));
  cleanups.push(() => {
    observeCniCalls(null);
    nodeMetrics.stop();
  });

  const cri = new CriServer({
    socket: config.socket,
    internalSocket: config.compat_authority_front ? internalCriSocket(config) : undefined,
    handlers,
    metrics,
    log: log.child("cri"),
  });
  let serving = false;
  try {
    await cri.start();
    serving = true;

    let adminAddress: string | null = null;
    if (config.admin.address) {
      const token = await loadOrCreateToken(adminTokenFile(config));
      const app = createAdminApp({
        metrics,
        token,
        metricsRequireToken: config.admin.metrics_require_token,
        // The admin API is a second front door onto the same CRI handlers.
        handlers,
        corsOrigins: config.admin.cors_origins,
        audit: FileAuditLog.forConfig(config, log.child("admin")),
        pullProgress: pullProgressFrom(images.progress),
        log: log.child("admin"),
        ready: () => {
          const rt = runtimeReadiness(config);
          return {
            ready: serving && rt.ready,
            checks: {
              cri: { ok: serving, message: serving ? "" : "CRI server is not serving" },
              runtime: { ok: rt.ready, message: rt.message },
            },
          };
        },
      });
      const hp = parseHostPort(config.admin.address)!;
      const ac = new AbortController();
      const listening = Promise.withResolvers<Deno.NetAddr>();
      const srv = Deno.serve({
        hostname: hp.hostname,
        port: hp.port,
        signal: ac.signal,
        onListen: (addr) => listening.resolve(addr as Deno.NetAddr),
        ...(config.admin.tls_cert
          ? {
            cert: await Deno.readTextFile(config.admin.tls_cert),
            key: await Deno.readTextFile(config.admin.tls_key),
          }
          : {}),
      }, app.fetch);
      const addr = await listening.promise;
      adminAddress = `${addr.hostname}:${addr.port}`;
      log.info("admin API listening", { address: adminAddress });
      cleanups.push(async () => {
        ac.abort();
        await srv.finished.catch(() => {});
      });
    }

    // Children must not inherit the CRI socket or client connections (see cloexec.ts);
    // sockets accepted later are marked by the sweep.
    markAllDescriptorsCloexec();
    const cloexecSweep = setInterval(markAllDescriptorsCloexec, 2000);
    Deno.unrefTimer(cloexecSweep);
    cleanups.push(() => clearInterval(cloexecSweep));

    return {
      config,
      cri,
      store,
      metrics,
      adminAddress,
      async stop(graceMs = config.shutdown_grace_seconds * 1000) {
        serving = false;
        // Event streams never end by themselves: end them so shutdown need not wait out the grace.
        containerEvents.closeAll();
        await cri.stop(graceMs);
        for (const c of cleanups.reverse()) await c();
        log.info("stopped");
      },
    };
  } catch (err) {
    if (serving) await cri.stop(0);
    for (const c of cleanups.reverse()) await c();
    throw err;
  }
}
