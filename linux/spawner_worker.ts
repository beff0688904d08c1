/// <reference lib="deno.worker" />
/**
 * The spawner's worker (linux/spawner.ts): runs each command it is sent to completion, on
 * this thread, and answers with its PID once started and its result at the end.
 */
import { runCommand } from "./run_command.ts";
import type { SpawnerReply, SpawnerRequest } from "./spawner.ts";

function reply(message: SpawnerReply): void {
  self.postMessage(message);
}

self.onmessage = async (e: MessageEvent<SpawnerRequest>) => {
  const { id, spec } = e.data;
  try {
    const result = await runCommand(spec, (pid) => reply({ kind: "started", id, pid }));
    reply({ kind: "done", id, result });
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    reply({ kind: "failed", id, name: e.name, message: e.message });
  }
};

reply({ kind: "ready" });
