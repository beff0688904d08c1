/**
 * RunPodSandbox. Every input is checked before anything is made; then every step is
 * recorded before it is taken (`phase: "creating"`), so a crash half-way is undone at the
 * next start, and any failure undoes what this call made before the error is thrown.
 */
import type { Config } from "../../core/config/mod.ts";
import { errorMessage, InvalidArgumentError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import { mountTmpfs } from "../../linux/mounts.ts";
import { pinNamespaces, runInNamespaces } from "../../network/netns.ts";
import { hostsFile, resolvConf, writeFileAtomic } from "../../network/pod_files.ts";
import type { NamespaceMode } from "../contracts.ts";
import type { PodSandboxConfig, PodSandboxMetadata } from "../model.ts";
import { ociRuntimeFor } from "../oci.ts";
import type { SandboxContext } from "./context.ts";
import { startInfra } from "./infra.ts";
import { parseBandwidth } from "./network.ts";
import type { SandboxRecord } from "./records.ts";
import { destroySandbox } from "./remove.ts";
import { eventsFor } from "./state.ts";
import { normalizeSysctlName, validateSysctls } from "./sysctls.ts";
import { hostnameFromPodName, validateSandboxConfig } from "./validate.ts";
import { admitUserNamespace } from "./userns_probe.ts";
import { planUserNamespace, type PodIdMappings, procMapLine } from "./userns.ts";

const log = logger("sandbox");

/** Size of a pod's /dev/shm, as Docker and containerd default it. */
const SHM_OPTIONS = "nosuid,nodev,noexec,mode=1777,size=65536k";

/** A RunPodSandbox request that passed every check. */
export interface RunPlan {
  metadata: PodSandboxMetadata;
  handler: string;
  modes: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode };
  hostNetwork: boolean;
  hostIpc: boolean;
  sysctls: Record<string, string>;
  /** The pod's own user namespace mappings, or null for the host's user namespace. */
  userns: PodIdMappings | null;
  /** The pod's resolv.conf, or null for the host's. */
  resolvText: string | null;
}

/** Checks a request against the config without side effects; throws INVALID_ARGUMENT. */
export function planRun(config: PodSandboxConfig, runtimeHandler: string, daemon: Config): RunPlan {
  const md = config.metadata;
  const missing = (["name", "namespace", "uid"] as const).filter((k) => !md?.[k]);
  if (!md || missing.length) {
    throw new InvalidArgumentError(
      `pod sandbox metadata must set ${missing.join(", ") || "name, namespace, uid"}`,
    );
  }
  validateSandboxConfig(config);
  const { name: handler, config: handlerConfig } = ociRuntimeFor(daemon, runtimeHandler);
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
  validatePortMappings(config);
  if (!hostNetwork) {
    // Checked here so that building the CNI capability args later cannot fail half-way
    // (host-network pods have no attachment, so their annotations are not read).
    parseBandwidth(config.annotations?.["kubernetes.io/ingress-bandwidth"]);
    parseBandwidth(config.annotations?.["kubernetes.io/egress-bandwidth"]);
  }
  const userns = planUserNamespace(nsOpts?.userns_options, {
    network: hostNetwork,
    pid: modes.pid === "NODE",
    ipc: hostIpc,
  });
  if (userns && !handlerConfig.user_namespaces) {
    throw new InvalidArgumentError(
      `runtime handler "${handler}" does not support user namespaces; configure ` +
        `[runtime.handlers.${handler}] user_namespaces = true or run the pod without one`,
    );
  }
  return {
    metadata: { name: md.name, namespace: md.namespace, uid: md.uid, attempt: md.attempt ?? 0 },
    handler,
    modes,
    hostNetwork,
    hostIpc,
    sysctls,
    userns,
    resolvText,
  };
}

function validatePortMappings(config: PodSandboxConfig): void {
  const ok = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
  for (const pm of config.port_mappings ?? []) {
    if (!ok(pm.host_port) || !ok(pm.container_port) || pm.container_port === 0) {
      throw new InvalidArgumentError(
        `port mapping ${pm.host_port}->${pm.container_port}: ports must be 1-65535 ` +
          `(host_port 0 means no host port)`,
      );
    }
  }
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/** The record of a sandbox about to be made: nothing exists yet. */
export function newRecord(
  plan: RunPlan,
  config: PodSandboxConfig,
  o: { id: string; sandboxesDir: string; nodeHostname: () => string },
): SandboxRecord {
  const md = plan.metadata;
  const hostname = plan.hostNetwork
    ? o.nodeHostname()
    : (config.hostname || hostnameFromPodName(md.name));
  const dir = `${o.sandboxesDir}/${o.id}`;
  return {
    id: o.id,
    ...md,
    phase: "creating",
    createdAt: Date.now(),
    runtimeHandler: plan.handler,
    config,
    namespaceModes: plan.modes,
    hostname,
    dir,
    ns: { net: null, ipc: null, uts: null },
    shmPath: null,
    resolvConfPath: `${dir}/resolv.conf`,
    hostsPath: `${dir}/hosts`,
    hostnamePath: `${dir}/hostname`,
    cgroupParent: config.linux?.cgroup_parent ?? "",
    logDirectory: config.log_directory ?? "",
    sysctls: plan.sysctls,
    network: null,
    networkSource: "",
    networkAttached: false,
    capabilityArgs: {},
    ips: [],
    infra: null,
    userns: plan.userns,
  };
}

export async function runSandbox(
  ctx: SandboxContext,
  config: PodSandboxConfig,
  runtimeHandler: string,
): Promise<SandboxRecord> {
  const plan = planRun(config, runtimeHandler, ctx.config);
  if (plan.userns) {
    await admitUserNamespace(
      ctx.config,
      plan.handler,
      plan.userns,
      plan.metadata.uid,
      ctx.records.views(),
    );
  }
  const rec = newRecord(plan, config, {
    id: randomId(),
    sandboxesDir: ctx.sandboxesDir,
    nodeHostname: Deno.hostname,
  });
  ctx.records.claimName(rec);
  const started = performance.now();
  try {
    await ctx.lock.run(rec.id, async () => {
      await createResources(ctx, rec, plan);
      ctx.records.transition(rec, "ready");
    });
  } catch (err) {
    log.warn("pod sandbox creation failed; undoing", { id: rec.id, error: errorMessage(err) });
    await ctx.lock.run(rec.id, () => destroySandbox(ctx, rec)).catch((e) =>
      log.error("undo of failed pod sandbox left resources", { id: rec.id, error: errorMessage(e) })
    );
    // The name is free again even if the undo failed: the leftover record is invisible
    // (phase "creating") and the next start finishes the cleanup.
    ctx.records.releaseName(rec);
    throw err;
  }
  log.info("pod sandbox ready", {
    id: rec.id,
    pod: `${rec.namespace}/${rec.name}`,
    ips: rec.ips.join(","),
    ms: Math.round(performance.now() - started),
  });
  ctx.publish(rec.id, eventsFor("creating", "ready"));
  return rec;
}

/** Makes the pod's namespaces, files, network and infra process, recording as it goes. */
async function createResources(
  ctx: SandboxContext,
  rec: SandboxRecord,
  plan: RunPlan,
): Promise<void> {
  // Load and check the network first: a broken CNI config fails before any side effect.
  if (!plan.hostNetwork) {
    const { config: net, source } = await ctx.network.load();
    rec.network = net;
    rec.networkSource = source;
  }
  recordPlannedResources(ctx, rec, plan);

  await Deno.mkdir(rec.dir, { recursive: true, mode: 0o755 });
  await ctx.namespaceDirReady();
  rec.ns = await pinNamespaces(
    ctx.nsDir,
    rec.id,
    {
      net: !plan.hostNetwork,
      ipc: !plan.hostIpc,
      uts: !plan.hostNetwork,
    },
    rec.hostname,
    usernsMaps(rec),
  );
  if (rec.shmPath) await mountTmpfs(rec.shmPath, SHM_OPTIONS);
  await writeFileAtomic(rec.hostnamePath, rec.hostname + "\n");
  await writeFileAtomic(
    rec.resolvConfPath,
    plan.resolvText ?? await Deno.readTextFile("/etc/resolv.conf").catch(() => ""),
  );
  await applySysctls(rec);
  await ctx.network.attach(rec);
  await writeFileAtomic(
    rec.hostsPath,
    plan.hostNetwork
      ? await Deno.readTextFile("/etc/hosts").catch(() => hostsFile(rec.hostname, []))
      : hostsFile(rec.hostname, rec.ips),
  );

  if (rec.namespaceModes.pid === "POD") {
    // Not recorded until the sandbox is: a crash in between leaves an infra process that
    // start-up recovery finds by its SKIFF_SANDBOX_ID label and kills.
    rec.infra = await startInfra(rec.ns, {
      sandboxId: rec.id,
      stateDir: ctx.config.state_dir,
    });
  }
}

/**
 * Everything this sandbox may create is planned and recorded before the first side effect
 * (one fsync'ed write, not one per step): if Skiff dies from here on, start-up recovery
 * undoes whatever of it exists. The record owes a CNI DEL from here on (a DEL of an
 * attachment never added is harmless); this process knows better and tracks it.
 */
function recordPlannedResources(ctx: SandboxContext, rec: SandboxRecord, plan: RunPlan): void {
  rec.ns = {
    net: plan.hostNetwork ? null : `${ctx.nsDir}/${rec.id}-net`,
    ipc: plan.hostIpc ? null : `${ctx.nsDir}/${rec.id}-ipc`,
    uts: plan.hostNetwork ? null : `${ctx.nsDir}/${rec.id}-uts`,
    user: plan.userns ? `${ctx.nsDir}/${rec.id}-user` : null,
  };
  rec.shmPath = plan.hostIpc ? null : `${rec.dir}/shm`;
  rec.capabilityArgs = rec.network ? ctx.network.capabilityArgs(rec.config) : {};
  rec.networkAttached = rec.network !== null;
  ctx.records.save(rec);
  rec.networkAttached = false;
}

function usernsMaps(rec: SandboxRecord) {
  if (!rec.userns) return null;
  return { uidMap: procMapLine(rec.userns.uids), gidMap: procMapLine(rec.userns.gids) };
}

async function applySysctls(rec: SandboxRecord): Promise<void> {
  if (!Object.keys(rec.sysctls).length) return;
  const r = await runInNamespaces(
    rec.ns,
    ["sysctl", "-w", ...Object.entries(rec.sysctls).map(([k, v]) => `${k}=${v}`)],
  );
  if (!r.ok) {
    throw new InvalidArgumentError(`cannot apply the pod's sysctls: ${r.text}`);
  }
}
