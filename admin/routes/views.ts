/**
 * The API's views of CRI records: the record as CRI returns it plus flattened fields
 * (names, ISO times, IPs) the dashboard and scripts would otherwise dig for. Pure.
 */
import type { Container, Image, PodSandbox, PodSandboxStatus } from "../../cri/types.ts";

/** A pod with what only its status knows, looked up once per pod. */
export type PodWithIps = PodSandbox & { ips: string[]; host_network: boolean };

/** CRI nanosecond timestamps → ISO time (null for 0 = never). */
export function isoFromNanos(ns: string | number | undefined): string | null {
  if (ns === undefined) return null;
  const n = BigInt(ns);
  if (n <= 0n) return null;
  return new Date(Number(n / 1_000_000n)).toISOString();
}

/** Kubelet's restart count annotation, else the attempt number. */
export function restartCount(
  c: { annotations: Record<string, string>; metadata?: { attempt: number } | null },
): number {
  const a = c.annotations["io.kubernetes.container.restartCount"];
  return a !== undefined && /^\d+$/.test(a) ? Number(a) : c.metadata?.attempt ?? 0;
}

export function isHostNetwork(s: PodSandboxStatus | null | undefined): boolean {
  return s?.linux?.namespaces?.options?.network === "NODE";
}

export function podIps(s: PodSandboxStatus | null | undefined): string[] {
  const net = s?.network;
  if (!net) return [];
  return [net.ip, ...net.additional_ips.map((i) => i.ip)].filter((ip) => ip);
}

export function podView(p: PodSandbox, status: PodSandboxStatus | null) {
  return {
    ...p,
    name: p.metadata?.name ?? "",
    namespace: p.metadata?.namespace ?? "",
    uid: p.metadata?.uid ?? "",
    attempt: p.metadata?.attempt ?? 0,
    created: isoFromNanos(p.created_at),
    ips: podIps(status),
    host_network: isHostNetwork(status),
  };
}

export function podWithIps(p: PodSandbox, status: PodSandboxStatus | null): PodWithIps {
  return { ...p, ips: podIps(status), host_network: isHostNetwork(status) };
}

export function containerView(ct: Container, pod: PodWithIps | null) {
  return {
    ...ct,
    name: ct.metadata?.name ?? "",
    attempt: ct.metadata?.attempt ?? 0,
    restart_count: restartCount(ct),
    created: isoFromNanos(ct.created_at),
    image_name: ct.image?.image ?? "",
    pod_name: pod?.metadata?.name ?? ct.labels["io.kubernetes.pod.name"] ?? "",
    pod_namespace: pod?.metadata?.namespace ?? ct.labels["io.kubernetes.pod.namespace"] ?? "",
    ips: pod?.ips ?? [],
    host_network: pod?.host_network ?? false,
  };
}

export function imageView(i: Image) {
  return { ...i, size_bytes: Number(i.size), tags: i.repo_tags };
}

/** Newest first, by CRI's nanosecond creation time. */
export function byNewest(a: { created_at: string }, b: { created_at: string }): number {
  return Number(BigInt(b.created_at) - BigInt(a.created_at));
}
