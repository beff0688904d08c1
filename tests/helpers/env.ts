/**
 * Per-run isolation for tests: temp dirs, free ports, unique bridge names and subnets, so
 * two runs on one machine never collide; and loud skips when a prerequisite is absent.
 */
import { findBinary } from "../../runtime/binaries.ts";

export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export function randomHex(n: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(Math.ceil(n / 2))),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("").slice(0, n);
}

/** A bridge name unique to this run (IFNAMSIZ allows 15 characters). */
export function uniqueBridgeName(): string {
  return `skt${randomHex(8)}`;
}

/** A /24 in 10.100.0.0–10.199.255.0 that no interface on this machine is using. */
export function uniqueSubnet(): string {
  const used = new TextDecoder().decode(
    new Deno.Command("ip", { args: ["-4", "-o", "addr"], stdout: "piped", stderr: "null" })
      .outputSync().stdout,
  );
  for (let i = 0; i < 100; i++) {
    const [a, b] = crypto.getRandomValues(new Uint8Array(2));
    const prefix = `10.${100 + (a % 100)}.${b}.`;
    if (!used.includes(prefix)) return `${prefix}0/24`;
  }
  throw new Error("no free test subnet found");
}

export function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * Returns null when every prerequisite is present; otherwise a reason, printed loudly, for
 * the caller to pass as `ignore`.
 */
export function missingPrerequisites(opts: { root?: boolean; binaries?: string[] }): string | null {
  const missing: string[] = [];
  if (opts.root && !isRoot()) missing.push("root");
  for (const b of opts.binaries ?? []) {
    if (!findBinary(b, `${Deno.env.get("PATH") ?? ""}:/usr/sbin:/sbin:/usr/lib/cni:/opt/cni/bin`)) {
      missing.push(b);
    }
  }
  if (missing.length === 0) return null;
  const reason = `missing prerequisites: ${missing.join(", ")}`;
  console.error(`\n!!! SKIPPING: ${reason} !!!\n`);
  return reason;
}

export async function makeTempDir(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ prefix: `skiff-test-${prefix}-` });
}
