/**
 * The files every container of a pod gets bind-mounted: /etc/resolv.conf (from the pod's
 * DNSConfig, else the host's), /etc/hosts and /etc/hostname.
 */
import { InvalidArgumentError } from "../core/errors.ts";

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** resolv.conf text for a DNSConfig, or null when it is empty (use the host's file). */
export function resolvConf(dns: DnsConfig | null | undefined): string | null {
  if (!dns) return null;
  const servers = dns.servers ?? [];
  const searches = dns.searches ?? [];
  const options = dns.options ?? [];
  if (servers.length + searches.length + options.length === 0) return null;
  for (const v of [...servers, ...searches, ...options]) {
    if (/[\s\n]/.test(v) || v === "") {
      throw new InvalidArgumentError(
        `DNS config value ${JSON.stringify(v)} is not allowed: no empty values or whitespace`,
      );
    }
  }
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(" ")}`);
  for (const s of servers) lines.push(`nameserver ${s}`);
  if (options.length) lines.push(`options ${options.join(" ")}`);
  return lines.join("\n") + "\n";
}

/** /etc/hosts for a pod with its own network: localhost entries plus its IPs → hostname. */
export function hostsFile(hostname: string, ips: string[]): string {
  const lines = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "fe00::0\tip6-mcastprefix",
    "fe00::1\tip6-allnodes",
    "fe00::2\tip6-allrouters",
  ];
  for (const ip of ips) lines.push(`${ip}\t${hostname}`);
  return lines.join("\n") + "\n";
}

/** Writes a file atomically (temp file + rename), so containers never see half of it. */
export async function writeFileAtomic(path: string, text: string, mode = 0o644): Promise<void> {
  await Deno.writeTextFile(`${path}.tmp`, text, { mode });
  await Deno.chmod(`${path}.tmp`, mode);
  await Deno.rename(`${path}.tmp`, path);
}
