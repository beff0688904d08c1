/**
 * Port-forward: one client connection to a port inside a pod's network namespace.
 *
 * Skiff never moves its own threads into another namespace (setns acts on one thread of a
 * multi-threaded process); a helper process does the connecting instead: `nsenter
 * --net=<pod netns>` running busybox's `nc`, whose stdin/stdout are the two directions of
 * the connection. nc half-closes the TCP connection when its stdin ends, so the client's
 * half-close reaches the server in the pod.
 *
 * As containerd, IPv4 loopback is tried first and IPv6 loopback when IPv4 refuses: a small
 * constant sh script runs nc twice. nc connects before it reads stdin, so the client's
 * first bytes wait in the pipe for the second attempt.
 */
import { InternalError } from "../core/errors.ts";
import type { DuplexStreams } from "../runtime/contracts.ts";

export interface PortForwardTarget {
  /** The pod's pinned network namespace; null for host-network pods. */
  netnsPath: string | null;
}

/**
 * `$1` is the port, the rest the nc command. Only a refused connect (nc's "can't connect")
 * falls back to IPv6; any other failure is reported as it is. The script is constant: the
 * port and paths are positional parameters, never spliced into it.
 */
const CONNECT_SCRIPT = `p="$1"; shift
{ e4=$("$@" 127.0.0.1 "$p" 2>&1 >&3 3>&-); r=$?; } 3>&1
[ "$r" = 0 ] && exit 0
case "$e4" in *"can't connect"*) ;; *) printf '%s\\n' "$e4" >&2; exit "$r";; esac
{ e6=$("$@" ::1 "$p" 2>&1 >&3 3>&-); r=$?; } 3>&1
[ "$r" = 0 ] && exit 0
printf 'IPv4: %s; IPv6: %s\\n' "\${e4#nc: }" "\${e6#nc: }" >&2
exit "$r"`;

/** The helper's argv for one connection. */
export function portForwardArgv(target: PortForwardTarget, port: number, busybox = "busybox") {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InternalError(`port ${port} is not a TCP port (1-65535)`);
  }
  const connect = ["sh", "-c", CONNECT_SCRIPT, "sh", String(port), busybox, "nc"];
  return target.netnsPath ? ["nsenter", `--net=${target.netnsPath}`, "--", ...connect] : connect;
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
