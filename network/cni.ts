/**
 * CNI: loading a network configuration, running its plugins (ADD, CHECK, DEL) with the
 * CNI 0.4 / 1.0 semantics, and caching each ADD result so that CHECK and DEL get it as
 * `prevResult` (the same on-disk form libcni uses, so tools that read its cache work).
 *
 * Plugins are executables talking JSON on stdin/stdout, selected by the `type` field and
 * found in the configured bin dirs; each call runs under the plugin timeout.
 */
import {
  type ErrorKind,
  FailedPreconditionError,
  InternalError,
  SkiffError,
} from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { listCniConfigFiles } from "./readiness.ts";
import { type PluginRun, runPlugin } from "./cni_exec.ts";

const log = logger("cni");

/** One plugin entry of a conflist: `type` plus plugin-specific keys. */
export interface CniPluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A network configuration list (a `.conf` file is wrapped into one). */
export interface CniNetworkConfig {
  cniVersion: string;
  name: string;
  disableCheck?: boolean;
  plugins: CniPluginConf[];
}

export interface CniIpConfig {
  address: string;
  gateway?: string;
  interface?: number;
}

/** A plugin's result (fields shared by 0.4 and 1.0). */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: CniIpConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Runtime arguments the CNI capability conventions define. */
export interface CniCapabilityArgs {
  portMappings?: { hostPort: number; containerPort: number; protocol: string; hostIP?: string }[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  bandwidth?: {
    ingressRate?: number;
    ingressBurst?: number;
    egressRate?: number;
    egressBurst?: number;
  };
  ipRanges?: { subnet: string }[][];
}

/** What one attachment of a container to a network is. */
export interface CniAttachment {
  containerId: string;
  netnsPath: string;
  ifName: string;
  /** CNI_ARGS pairs, e.g. K8S_POD_NAME. */
  args: [string, string][];
  capabilityArgs: CniCapabilityArgs;
}

export interface CniRuntimeOptions {
  binDirs: string[];
  cacheDir: string;
  timeoutMs: number;
}

/** The error a plugin reports: `{code, msg, details}` on stdout with a non-zero exit. */
/** A plugin failure: internal, but a plugin killed for its timeout is deadline_exceeded. */
export class CniPluginError extends SkiffError {
  constructor(
    readonly plugin: string,
    readonly command: string,
    readonly cniCode: number | null,
    message: string,
    kind: ErrorKind = "internal",
  ) {
    super(kind, message);
  }
}

export const LOOPBACK_NETWORK: CniNetworkConfig = {
  cniVersion: "1.0.0",
  name: "cni-loopback",
  plugins: [{ type: "loopback" }],
};

/** Parses a `.conflist` or a single-plugin `.conf` into a conflist; errors name the file. */
export function parseNetworkConfig(text: string, source: string): CniNetworkConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FailedPreconditionError(
      `CNI config ${source} is not valid JSON (${(err as Error).message}); fix or remove it`,
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new FailedPreconditionError(`CNI config ${source} must be a JSON object`);
  }
  const obj = raw as Record<string, unknown>;
  const name = obj.name;
  if (typeof name !== "string" || name === "") {
    throw new FailedPreconditionError(`CNI config ${source} has no "name"`);
  }
  const cniVersion = typeof obj.cniVersion === "string" ? obj.cniVersion : "0.4.0";
  let plugins: CniPluginConf[];
  if (Array.isArray(obj.plugins)) {
    plugins = obj.plugins as CniPluginConf[];
  } else if (typeof obj.type === "string") {
    // A single-plugin .conf: the whole object is the plugin's config.
    const { cniVersion: _v, name: _n, ...plugin } = obj;
    plugins = [plugin as CniPluginConf];
  } else {
    throw new FailedPreconditionError(
      `CNI config ${source} has neither "plugins" (a conflist) nor "type" (a single plugin)`,
    );
  }
  if (plugins.length === 0) {
    throw new FailedPreconditionError(`CNI config ${source} lists no plugins`);
  }
  for (const [i, p] of plugins.entries()) {
    if (typeof p !== "object" || p === null || typeof p.type !== "string" || p.type === "") {
      throw new FailedPreconditionError(`CNI config ${source}: plugin #${i} has no "type"`);
    }
  }
  return {
    cniVersion,
    name,
    disableCheck: obj.disableCheck === true,
    plugins,
  };
}

/** The built-in default network: bridge + host-local + portmap (loopback runs apart on lo). */
export function defaultBridgeNetwork(opts: {
  bridgeName: string;
  subnet: string;
  ipamDataDir: string;
}): CniNetworkConfig {
  return {
    cniVersion: "1.0.0",
    name: "skiff-default",
    plugins: [
      {
        type: "bridge",
        bridge: opts.bridgeName,
        isGateway: true,
        ipMasq: true,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          ranges: [[{ subnet: opts.subnet }]],
          routes: [{ dst: "0.0.0.0/0" }],
          dataDir: opts.ipamDataDir,
        },
      },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/**
 * Loads the network pods attach to: the first config file of the conf dir (sorted by name),
 * else the built-in default when it is on; throws FailedPrecondition when there is none.
 */
export async function loadNetworkConfig(opts: {
  confDir: string;
  builtIn: CniNetworkConfig | null;
}): Promise<{ config: CniNetworkConfig; source: string }> {
  const files = listCniConfigFiles(opts.confDir);
  if (files.length > 0) {
    const file = files[0];
    const text = await Deno.readTextFile(file);
    return { config: parseNetworkConfig(text, file), source: file };
  }
  if (opts.builtIn) return { config: opts.builtIn, source: "built-in default network" };
  throw new FailedPreconditionError(
    `no CNI config found in ${opts.confDir}: install one, or set [network] default = "bridge"`,
  );
}

/** Finds a plugin executable in the bin dirs; throws naming where it looked. */
export function findPlugin(type: string, binDirs: string[]): string {
  if (type.includes("/")) {
    throw new FailedPreconditionError(
      `CNI plugin type ${JSON.stringify(type)} must be a plain name`,
    );
  }
  for (const dir of binDirs) {
    const path = `${dir}/${type}`;
    try {
      const st = Deno.statSync(path);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return path;
    } catch {
      // not in this dir
    }
  }
  throw new FailedPreconditionError(
    `CNI plugin "${type}" not found in ${binDirs.join(", ")}: install it or fix the CNI config`,
  );
}

interface CacheEntry {
  kind: "cniCacheV1";
  containerId: string;
  /** base64 of the network config, as libcni writes it. */
  config: string;
  ifName: string;
  networkName: string;
  cniArgs: [string, string][];
  capabilityArgs: CniCapabilityArgs;
  result: CniResult;
}

/** Told of every plugin call (operation, plugin type, seconds, success): for metrics. */
export type CniCallObserver = (
  op: "ADD" | "CHECK" | "DEL",
  plugin: string,
  seconds: number,
  ok: boolean,
) => void;
let cniCallObserver: CniCallObserver | null = null;

/** Sets the process's CNI call observer (the daemon's metrics); null removes it. */
export function observeCniCalls(observer: CniCallObserver | null): void {
  cniCallObserver = observer;
}

/** Runs CNI plugins for attachments; stateless apart from the result cache dir. */
export class CniRuntime {
  /**
   * Plugin paths already found: a sync stat per plugin per call (and a NotFound error for
   * each bin dir that lacks it) sat on the event loop of every pod start and stop. A
   * cached path that has gone is looked up again when its spawn fails.
   */
  private readonly plugins = new Map<string, string>();

  constructor(readonly opts: CniRuntimeOptions) {}

  private plugin(type: string): string {
    let path = this.plugins.get(type);
    if (!path) {
      path = findPlugin(type, this.opts.binDirs);
      this.plugins.set(type, path);
    }
    return path;
  }

  private cacheFile(net: CniNetworkConfig, a: CniAttachment): string {
    return `${this.opts.cacheDir}/results/${net.name}-${a.containerId}-${a.ifName}`;
  }

  /** Checks that every plugin of the network exists, before any side effect. */
  validate(net: CniNetworkConfig): void {
    for (const p of net.plugins) {
      this.plugin(p.type);
      const ipam = p.ipam as { type?: unknown } | undefined;
      if (ipam && typeof ipam.type === "string") this.plugin(ipam.type);
    }
  }

  /**
   * ADD through the whole chain; each plugin gets the previous one's result. On failure the
   * attachment is deleted again (every plugin, reverse order) before the error is thrown.
   */
  async add(net: CniNetworkConfig, a: CniAttachment): Promise<CniResult> {
    this.validate(net);
    let prev: CniResult | undefined;
    try {
      for (const p of net.plugins) {
        prev = await this.exec("ADD", net, p, a, prev);
      }
    } catch (err) {
      await this.del(net, a).catch((e) =>
        log.warn("CNI rollback DEL failed", {
          network: net.name,
          container: a.containerId,
          error: (e as Error).message,
        })
      );
      throw err;
    }
    const result = prev ?? {};
    await this.writeCache(net, a, result);
    return result;
  }

  /** CHECK with the cached result (a no-op for pre-0.4 configs or disableCheck). */
  async check(net: CniNetworkConfig, a: CniAttachment): Promise<void> {
    if (net.disableCheck || versionBelow(net.cniVersion, "0.4.0")) return;
    const cached = await this.readCache(net, a);
    if (!cached) {
      throw new FailedPreconditionError(
        `no cached CNI result for ${a.containerId} on network ${net.name}; CHECK needs one`,
      );
    }
    for (const p of net.plugins) await this.exec("CHECK", net, p, a, cached.result);
  }

  /** DEL through the chain in reverse, with the cached result; removes the cache entry. */
  async del(net: CniNetworkConfig, a: CniAttachment): Promise<void> {
    const cached = await this.readCache(net, a);
    const errors: string[] = [];
    for (const p of [...net.plugins].reverse()) {
      try {
        await this.exec("DEL", net, p, a, cached?.result);
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    if (errors.length) throw new InternalError(`CNI DEL on ${net.name}: ${errors.join("; ")}`);
    await Deno.remove(this.cacheFile(net, a)).catch(() => {});
  }

  /** Drops the cached result of an attachment whose namespace is already gone. */
  async forget(net: CniNetworkConfig, a: CniAttachment): Promise<void> {
    await Deno.remove(this.cacheFile(net, a)).catch(() => {});
  }

  async readCache(net: CniNetworkConfig, a: CniAttachment): Promise<CacheEntry | null> {
    try {
      return JSON.parse(await Deno.readTextFile(this.cacheFile(net, a))) as CacheEntry;
    } catch {
      return null;
    }
  }

  private async writeCache(net: CniNetworkConfig, a: CniAttachment, result: CniResult) {
    const file = this.cacheFile(net, a);
    await Deno.mkdir(`${this.opts.cacheDir}/results`, { recursive: true, mode: 0o700 });
    const entry: CacheEntry = {
      kind: "cniCacheV1",
      containerId: a.containerId,
      config: btoa(JSON.stringify(net)),
      ifName: a.ifName,
      networkName: net.name,
      cniArgs: a.args,
      capabilityArgs: a.capabilityArgs,
      result,
    };
    // Written then renamed: a crash never leaves a torn cache file.
    await Deno.writeTextFile(`${file}.tmp`, JSON.stringify(entry), { mode: 0o600 });
    await Deno.rename(`${file}.tmp`, file);
  }

  /** One plugin call, timed for the metrics observer. */
  private async exec(
    command: "ADD" | "CHECK" | "DEL",
    net: CniNetworkConfig,
    plugin: CniPluginConf,
    a: CniAttachment,
    prevResult: CniResult | undefined,
  ): Promise<CniResult> {
    const t0 = performance.now();
    let ok = false;
    try {
      const result = await this.execPlugin(command, net, plugin, a, prevResult);
      ok = true;
      return result;
    } finally {
      cniCallObserver?.(command, plugin.type, (performance.now() - t0) / 1000, ok);
    }
  }

  private async execPlugin(
    command: "ADD" | "CHECK" | "DEL",
    net: CniNetworkConfig,
    plugin: CniPluginConf,
    a: CniAttachment,
    prevResult: CniResult | undefined,
  ): Promise<CniResult> {
    const call: PluginCall = { plugin: plugin.type, command, network: net.name };
    const path = this.plugin(plugin.type);
    let run: PluginRun;
    try {
      run = await runPlugin({
        path,
        env: {
          CNI_COMMAND: command,
          CNI_CONTAINERID: a.containerId,
          CNI_NETNS: a.netnsPath,
          CNI_IFNAME: a.ifName,
          CNI_ARGS: a.args.map(([k, v]) => `${k}=${v}`).join(";"),
          CNI_PATH: this.opts.binDirs.join(":"),
          PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
        },
        stdin: JSON.stringify(pluginStdin(net, plugin, a, prevResult)),
        timeoutMs: this.opts.timeoutMs,
      });
    } catch (err) {
      this.plugins.delete(plugin.type); // looked up afresh next time (it may have moved)
      throw new CniPluginError(
        call.plugin,
        call.command,
        null,
        `CNI plugin ${call.plugin} ${call.command} could not run: ${(err as Error).message}`,
      );
    }
    checkPluginExit(call, run, this.opts.timeoutMs);
    log.debug("CNI plugin ran", {
      plugin: plugin.type,
      command,
      container: a.containerId,
      ms: Math.round(run.elapsedMs),
    });
    if (command !== "ADD") return prevResult ?? {};
    return parseAddResult(call, run.stdout);
  }
}

/** One plugin invocation, for error messages. */
interface PluginCall {
  plugin: string;
  command: "ADD" | "CHECK" | "DEL";
  network: string;
}

/** The network config a plugin reads on stdin (CNI spec: the plugin's conf in the list). */
function pluginStdin(
  net: CniNetworkConfig,
  plugin: CniPluginConf,
  a: CniAttachment,
  prevResult: CniResult | undefined,
): Record<string, unknown> {
  const stdinConf: Record<string, unknown> = {
    ...plugin,
    cniVersion: net.cniVersion,
    name: net.name,
  };
  // Only the capabilities a plugin declares are passed to it (CNI conventions).
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    const value = (a.capabilityArgs as Record<string, unknown>)[cap];
    if (on && value !== undefined) runtimeConfig[cap] = value;
  }
  if (Object.keys(runtimeConfig).length) stdinConf.runtimeConfig = runtimeConfig;
  if (prevResult) stdinConf.prevResult = prevResult;
  return stdinConf;
}

/** A timeout, a signal or a failing exit becomes a CniPluginError (CNI's error JSON read). */
function checkPluginExit(call: PluginCall, run: PluginRun, timeoutMs: number): void {
  const { plugin, command } = call;
  if (run.timedOut) {
    throw new CniPluginError(
      plugin,
      command,
      null,
      `CNI plugin ${plugin} ${command} timed out and was killed after ${
        Math.round(run.elapsedMs)
      } ms (plugin_timeout_seconds is ${timeoutMs / 1000})`,
      // As containerd's context deadline: kubelet sees DEADLINE_EXCEEDED, not INTERNAL.
      "deadline_exceeded",
    );
  }
  if (run.out.signal) {
    throw new CniPluginError(
      plugin,
      command,
      null,
      `CNI plugin ${plugin} ${command} was killed by ${run.out.signal}`,
    );
  }
  if (run.out.success) return;
  let code: number | null = null;
  let msg = run.stdout.trim() || run.stderr || `exit code ${run.out.code}`;
  try {
    const e = JSON.parse(run.stdout) as { code?: number; msg?: string; details?: string };
    code = e.code ?? null;
    msg = [e.msg, e.details].filter(Boolean).join(": ") || msg;
  } catch {
    // not a JSON error: keep the raw text
  }
  throw new CniPluginError(
    plugin,
    command,
    code,
    `CNI plugin ${plugin} ${command} failed for network ${call.network}: ${msg}`,
  );
}

function parseAddResult(call: PluginCall, stdout: string): CniResult {
  try {
    return JSON.parse(stdout) as CniResult;
  } catch {
    throw new CniPluginError(
      call.plugin,
      call.command,
      null,
      `CNI plugin ${call.plugin} ADD printed no valid JSON result: ${stdout.slice(0, 200)}`,
    );
  }
}

/** Pod IPs (without prefix length) from a result, IPv4 first as kubelet expects. */
export function resultIps(result: CniResult): string[] {
  const ips = (result.ips ?? []).map((ip) => ip.address.split("/")[0]);
  return [...ips.filter((ip) => !ip.includes(":")), ...ips.filter((ip) => ip.includes(":"))];
}

function versionBelow(v: string, than: string): boolean {
  const a = v.split(".").map(Number);
  const b = than.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  }
  return false;
}
