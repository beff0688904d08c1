/**
 * Port-forward: one client connection to a port inside a pod's network namespace.
 *
 * Skiff never moves its own threads into another namespace (setns acts on one thread of a
 * multi-threaded process); a helper process does the connecting instead: `nsenter
 * --net=<pod netns>` running busybox's `nc 127.0.0.1 <port>`, whose stdin/stdout are the
 * two directions of the connection. nc half-closes the TCP connection when its stdin ends,
 * so the client's half-close reaches the server in the pod.
 */
import { InternalError } from "../core/errors.ts";
import type { DuplexStreams } from "../cri/streaming/types.ts";

export interface PortForwardTarget {
  /** The pod's pinned network namespace; null for host-network pods. */
  netnsPath: string | null;
}

/** The helper's argv for one connection. */
export function portForwardArgv(target: PortForwardTarget, port: number, busybox = "busybox") {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InternalError(`port ${port} is not a TCP port (1-65535)`);
  }
  const nc = [busybox, "nc", "127.0.0.1", String(port)];
  return target.netnsPath ? ["nsenter", `--net=${target.netnsPath}`, "--", ...nc] : nc;
}

/**
 * Relays `conn` to the port until both directions ended. Rejects with the helper's own
 * words (e.g. "Connection refused") when the connection cannot be made.
 */
export async function forwardPort(
  target: PortForwardTarget,
  port: number,
  conn: DuplexStreams,
  signal: AbortSignal,
): Promise<void> {
  const [bin, ...args] = portForwardArgv(target, port);
  const child = new Deno.Command(bin, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  };
  signal.addEventListener("abort", kill, { once: true });
  try {
    const stopInput = new AbortController();
    const input = conn.readable.pipeTo(child.stdin, { signal: stopInput.signal }).catch(() => {
      child.stdin.close().catch(() => {});
    });
    const output = child.stdout.pipeTo(conn.writable).catch(kill);
    const stderr = new Response(child.stderr).text();
    const status = await child.status;
    await output;
    // The target closed: nothing more will be read from the client for it.
    stopInput.abort();
    await input;
    if (!status.success && !signal.aborted) {
      const why = (await stderr).trim().replace(/^nc: /, "").slice(0, 1000);
      throw new InternalError(why || `port-forward helper exited with code ${status.code}`);
    }
  } finally {
    signal.removeEventListener("abort", kill);
  }
}
