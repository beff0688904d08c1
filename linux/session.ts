/**
 * Starting a process in a session (and process group) of its own without blocking the event
 * loop. Deno's `detached: true` makes the child call setsid() before exec, which rules out
 * vfork/posix_spawn: Deno then fork()s the whole daemon and waits for the child's exec,
 * 2–4 ms of blocked main thread per spawn (more as the heap grows), against ~0.3 ms with
 * vfork. A burst of CNI plugin or conmon spawns stalled every other call behind it. util-linux
 * `setsid PROG…` does the same setsid() in the (vforked) child and execs PROG in place (it
 * forks only when it is a process-group leader, which a fresh child never is), so the PID
 * the caller sees is the new session's leader, as with `detached`.
 */
const SETSID_CANDIDATES = ["/usr/bin/setsid", "/bin/setsid", "/usr/sbin/setsid"];

let setsidPath: string | null | undefined;

function findSetsid(): string | null {
  if (setsidPath !== undefined) return setsidPath;
  setsidPath = null;
  for (const p of SETSID_CANDIDATES) {
    try {
      const st = Deno.statSync(p);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) {
        setsidPath = p;
        break;
      }
    } catch {
      // not here
    }
  }
  return setsidPath;
}

/** How to spawn `program args…` in a new session: through setsid, else Deno's `detached`. */
export function newSessionCommand(
  program: string,
  args: string[],
): { program: string; args: string[]; detached: boolean } {
  const setsid = findSetsid();
  if (setsid) return { program: setsid, args: [program, ...args], detached: false };
  return { program, args, detached: true };
}
