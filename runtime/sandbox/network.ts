/**
 * A pod's CNI attachment: which network it joins, the capability args kubelet's config
 * asks for (ports, DNS, bandwidth, pod CIDR), and ADD, CHECK, DEL of its `lo` and `eth0`.
 */
import { cniCacheDir, type Config } from "../../core/config/mod.ts";
import { InvalidArgumentError } from "../../core/errors.ts";
import {
  type CniAttachment,
  type CniCapabilityArgs,
  type CniNetworkConfig,
  CniRuntime,
  defaultBridgeNetwork,
  loadNetworkConfig,
  LOOPBACK_NETWORK,
  resultIps,
} from "../../network/cni.ts";
import { isPinned } from "../../network/netns.ts";
import type { PodCidr } from "../../network/pod_cidr.ts";
import type { PodSandboxConfig } from "../model.ts";
import type { SandboxRecord } from "./records.ts";

/** As containerd: a burst as large as the plugin takes, so the rate is what limits. */
const MAX_BURST = 2147483647;

export class PodNetwork {
  private readonly cni: CniRuntime;

  constructor(private readonly config: Config, private readonly podCidr?: PodCidr) {
    this.cni = new CniRuntime({
      binDirs: config.network.cni_bin_dirs,
      cacheDir: cniCacheDir(config),
      timeoutMs: config.network.plugin_timeout_seconds * 1000,
    });
  }

  get ipamDataDir(): string {
    return `${this.config.root_dir}/cni/networks`;
  }

  /** Skiff's own bridge network, when the config asks for it. */
  builtIn(): CniNetworkConfig | null {
    if (this.config.network.default !== "bridge") return null;
    return defaultBridgeNetwork({
      bridgeName: this.config.network.bridge_name,
      subnet: this.config.network.subnet,
      ipamDataDir: this.ipamDataDir,
    });
  }

  /** The network pods join, checked (plugins found) before any side effect. */
  async load(): Promise<{ config: CniNetworkConfig; source: string }> {
    const loaded = await loadNetworkConfig({
      confDir: this.config.network.cni_conf_dir,
      builtIn: this.builtIn(),
    });
    this.cni.validate(loaded.config);
    this.cni.validate(LOOPBACK_NETWORK);
    return loaded;
  }

  capabilityArgs(config: PodSandboxConfig): CniCapabilityArgs {
    return capabilityArgs(config, this.podCidr?.get() ?? []);
  }

  /** ADD of `lo` then `eth0`; marks the record as owing a DEL before the first plugin runs. */
  async attach(rec: SandboxRecord): Promise<void> {
    if (!rec.network || !rec.ns.net) return;
    rec.networkAttached = true;
    await this.cni.add(LOOPBACK_NETWORK, attachment(rec, "lo"));
    const result = await this.cni.add(rec.network, attachment(rec, "eth0"));
    rec.ips = resultIps(result);
  }

  /** DEL of the pod's attachment if one is owed; true when the record changed. */
  async detach(rec: SandboxRecord): Promise<boolean> {
    if (!rec.networkAttached || !rec.network) return false;
    // A namespace lost meanwhile (a reboot wiped the state dir) is passed as "": plugins
    // then release what lives outside it (IPs, iptables rules) without failing on it.
    const netnsGone = !rec.ns.net || !await isPinned(rec.ns.net);
    const eth0 = { ...attachment(rec, "eth0"), ...(netnsGone ? { netnsPath: "" } : {}) };
    await this.cni.del(rec.network, eth0);
    // No loopback DEL: it only sets `lo` down inside the pod's own namespace, which goes
    // with the pod and holds nothing outside it; the plugin run cost StopPodSandbox ~5–10 ms.
    await this.cni.forget(LOOPBACK_NETWORK, attachment(rec, "lo"));
    rec.networkAttached = false;
    rec.ips = [];
    return true;
  }

  /** CNI CHECK of the pod's `eth0`; throws what the plugin reported. */
  async check(rec: SandboxRecord): Promise<void> {
    if (!rec.network) return;
    await this.cni.check(rec.network, attachment(rec, "eth0"));
  }
}

/** The CNI attachment of one of the pod's interfaces, with the args plugins expect. */
export function attachment(rec: SandboxRecord, ifName: string): CniAttachment {
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

/** What the pod's config asks of capability-aware plugins; `podCidrs` from kubelet. */
export function capabilityArgs(config: PodSandboxConfig, podCidrs: string[]): CniCapabilityArgs {
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
    caps.bandwidth = {
      ...(ingress !== null ? { ingressRate: ingress, ingressBurst: MAX_BURST } : {}),
      ...(egress !== null ? { egressRate: egress, egressBurst: MAX_BURST } : {}),
    };
  }
  if (podCidrs.length) caps.ipRanges = podCidrs.map((subnet) => [{ subnet }]);
  return caps;
}

const QUANTITY_MULTIPLIERS: Record<string, number> = {
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

/** A Kubernetes quantity (e.g. "10M", "1Gi", "500k") in bits per second, or null. */
export function parseBandwidth(q: string | undefined): number | null {
  if (!q) return null;
  const m = /^(\d+(?:\.\d+)?)([kMGTP]i?)?$/.exec(q.trim());
  if (!m) {
    throw new InvalidArgumentError(`bandwidth annotation ${JSON.stringify(q)} is not a quantity`);
  }
  return Math.round(Number(m[1]) * QUANTITY_MULTIPLIERS[m[2] ?? ""]);
}
