/**
 * The infra process, made only for pods whose containers share one PID namespace: a
 * `sleep infinity` as PID 1 of a new PID namespace, inside the pod's pinned namespaces
 * (`nsenter --net/--ipc/--uts … unshare --pid --fork`). It runs detached in
 * its own session so it outlives Skiff; it is found again after a restart by PID plus
 * start time (so a recycled PID is never mistaken for it).
 */
import { newSessionCommand } from "../../linux/session.ts";
import { InternalError } from "../../core/errors.ts";
import { nsenterArgs, type PinnedNamespaces } from "../../network/netns.ts";

export interface InfraProcess {
  /** Host PID of the PID namespace's init (the sleep). */
  pid: number;
  /** Its start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  startTime: number;
}

export function processStartTime(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state); starttime is field 22.
    if (rest[0] === "Z" || rest[0] === "X") return null;
    return Number(rest[19]);
  } catch {
    return null;
  }
}

export function infraAlive(infra: InfraProcess): boolean {
  return processStartTime(infra.pid) === infra.startTime;
}

export function pidNamespacePath(infra: InfraProcess): string {
  return `/proc/${infra.pid}/ns/pid`;
}

const CLOSE_FDS_AND_EXEC = "for f in /proc/$$/fd/*; do n=${f##*/}; " +
  'if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done; exec "$@"';

/**
 * `label` goes into the process's environment (SKIFF_SANDBOX_ID, SKIFF_STATE_DIR), so that
 * operators and leak checks can tell whose infra process a `sleep infinity` is.
 */
export async function startInfra(
  pinned: PinnedNamespaces,
  label: { sandboxId: string; stateDir: string },
): Promise<InfraProcess> {
  // In a pod's own user namespace, the PID namespace is made inside it too (owned by it,
  // so the containers' root can mount its /proc).
  const args = nsenterArgs(pinned, true);
  // No --mount-proc: a mount namespace of its own would hold private copies of every
  // mount of the moment (other pods' namespace pins and shm), keeping them alive after
  // their pods are gone. Containers joining the PID namespace mount their own /proc.
  // Deno hands its non-CLOEXEC descriptors (the CRI listening socket among them) to every
  // child; a long-lived infra process holding them would keep the socket answering after
  // Skiff died. A fixed bash script closes everything above stderr before the exec (the
  // real argv goes in as "$@", never into the script text).
  // In a session of its own through setsid(1): Deno's `detached` forks the whole daemon.
  const session = newSessionCommand("bash", [
    "-c",
    CLOSE_FDS_AND_EXEC,
    "skiff-infra",
    "nsenter",
    ...args,
    "--",
    "unshare",
    "--pid",
    "--fork",
    "sleep",
    "infinity",
  ]);
  const child = new Deno.Command(session.program, {
    args: session.args,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      SKIFF_SANDBOX_ID: label.sandboxId,
      SKIFF_STATE_DIR: label.stateDir,
    },
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: session.detached,
  }).spawn();
  // Reaped whenever it exits, without keeping Skiff alive for it.
  child.status.catch(() => {});
  child.unref();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    let children = "";
    try {
      children = await Deno.readTextFile(`/proc/${child.pid}/task/${child.pid}/children`);
    } catch {
      break; // the unshare process is gone: it failed
    }
    const pid = Number(children.trim().split(/\s+/)[0]);
    if (pid > 0) {
      // Wait until the forked child has exec'd sleep, so its identity is final.
      const cmd = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
      const startTime = processStartTime(pid);
      if (cmd.startsWith("sleep\0") && startTime !== null) return { pid, startTime };
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // already gone
  }
  throw new InternalError(
    "the pod's infra process (nsenter … unshare --pid --fork sleep infinity) did not start",
  );
}

/** Kills the infra process (its PID namespace dies with it) and waits until it is gone. */
export async function stopInfra(infra: InfraProcess): Promise<void> {
  if (!infraAlive(infra)) return;
  try {
    Deno.kill(infra.pid, "SIGKILL");
  } catch {
    return;
  }
  for (let i = 0; i < 400 && infraAlive(infra); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Processes started by `startInfra` for this state dir (found by their environment label),
 * with the sandbox each belongs to: the unshare parent and the sleep.
 */
export function findLabelledInfra(stateDir: string): { pid: number; sandboxId: string }[] {
  const label = `SKIFF_STATE_DIR=${stateDir}\0`;
  const out: { pid: number; sandboxId: string }[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let environ: string;
    try {
      environ = Deno.readTextFileSync(`/proc/${e.name}/environ`);
    } catch {
      continue;
    }
    if (!environ.includes(label)) continue;
    const id = /(?:^|\0)SKIFF_SANDBOX_ID=([0-9a-f]+)\0/.exec(environ)?.[1];
    if (id) out.push({ pid: Number(e.name), sandboxId: id });
  }
  return out;
}
