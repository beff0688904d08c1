/**
 * Running one CNI plugin process: in a session of its own (a timeout kills its whole process
 * group), its config on stdin, stdout and stderr read back (bounded), a bounded number at
 * once. Spawn failures are thrown as they come; network/cni.ts names the plugin in them.
 */
import { newSessionCommand } from "../linux/session.ts";
import { Semaphore } from "../core/semaphore.ts";
import { runToCompletion } from "../linux/spawner.ts";

export interface PluginRun {
  out: Deno.CommandOutput;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  elapsedMs: number;
}

/** A plugin's stdout or stderr kept (results are a few KiB; the rest is drained). */
const PLUGIN_OUTPUT_LIMIT = 1 << 20;

/**
 * CNI plugins running at once (every pod of a burst runs 2–3 of them, each a Go program
 * that is a burst of CPU): more wait their turn, so that twenty pods starting together
 * do not crowd out the daemon's own thread and every call behind it. The timeout counts
 * from a plugin's start.
 */
export const CNI_PLUGIN_CONCURRENCY = Math.max(2, 2 * (navigator.hardwareConcurrency || 1));
const pluginSlots = new Semaphore(CNI_PLUGIN_CONCURRENCY);

export function runPlugin(
  p: { path: string; env: Record<string, string>; stdin: string; timeoutMs: number },
): Promise<PluginRun> {
  return pluginSlots.run(() => runPluginNow(p));
}

/** Runs the plugin binary, killing its whole process group after `timeoutMs`. */
async function runPluginNow(
  p: { path: string; env: Record<string, string>; stdin: string; timeoutMs: number },
): Promise<PluginRun> {
  const started = performance.now();
  let timedOut = false;
  let pid = 0;
  // Its own session and process group, so a timeout kills whatever it spawned too (a
  // child still holding stdout would otherwise keep the call hanging); through setsid(1),
  // as `detached` would fork the whole daemon (see linux/session.ts). Spawned from the
  // spawner's worker: a pod's plugins are most of a burst's spawns (linux/spawner.ts).
  const session = newSessionCommand(p.path, []);
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(pid);
  }, p.timeoutMs);
  let out: Deno.CommandOutput;
  try {
    const run = await runToCompletion({
      program: session.program,
      args: session.args,
      env: p.env,
      clearEnv: true,
      detached: session.detached,
      stdin: new TextEncoder().encode(p.stdin),
      outputLimit: PLUGIN_OUTPUT_LIMIT,
    }, (started) => {
      pid = started;
      if (timedOut) killGroup(pid);
    });
    out = run;
  } finally {
    clearTimeout(timer);
  }
  return {
    out,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr).trim(),
    timedOut,
    elapsedMs: performance.now() - started,
  };
}

function killGroup(pid: number): void {
  if (pid <= 0) return; // not started yet: killed as it starts
  try {
    Deno.kill(-pid, "SIGKILL");
  } catch {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}
