/**
 * Driving an OCI runtime (runc, or any runtime with runc's CLI) with argv arrays. Every
 * call writes the runtime's own log to a file, and its last error lines are put into the
 * thrown error: runc's stderr alone often says only "can't get final child's PID from
 * pipe: EOF" while the cause is in its log.
 */
import { type Config, type RuntimeHandlerConfig, runtimeRoot } from "../core/config/mod.ts";
import { InternalError, InvalidArgumentError, NotFoundError } from "../core/errors.ts";

export interface OciRuntimeOptions {
  binary: string;
  root: string;
  /** Extra global arguments (from the handler's config). */
  options: string[];
  systemdCgroup: boolean;
}

export interface OciState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped";
  bundle: string;
}

/** A configured runtime handler (a RuntimeClass), resolved from its name. */
export interface ResolvedRuntimeHandler {
  /** The handler's name: the one asked for, or the default handler's for "". */
  name: string;
  config: RuntimeHandlerConfig;
  /** How to drive its OCI runtime (the binary as configured: a name or an absolute path). */
  runtime: OciRuntimeOptions;
}

/**
 * The runtime handler `handlerName` names ("" = the default one). The one place an unknown
 * handler is refused: InvalidArgumentError naming it and the configured ones.
 */
export function ociRuntimeFor(config: Config, handlerName: string): ResolvedRuntimeHandler {
  const name = handlerName || config.runtime.default_handler;
  const handler = config.runtime.handlers[name];
  if (!handler) {
    throw new InvalidArgumentError(
      `unknown runtime handler "${name}"; configured handlers: ${
        Object.keys(config.runtime.handlers).join(", ") || "none"
      }`,
    );
  }
  return {
    name,
    config: handler,
    runtime: {
      binary: handler.binary,
      root: runtimeRoot(config, name),
      options: handler.options,
      systemdCgroup: config.cgroup_driver === "systemd",
    },
  };
}

const decoder = new TextDecoder();

/** The readable messages of a runc JSON log (`{"level":"error","msg":"…"}` per line). */
export function runtimeLogErrors(text: string, max = 3): string[] {
  const msgs: string[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const rec = JSON.parse(line) as { level?: string; msg?: string };
      if ((rec.level === "error" || rec.level === "fatal") && rec.msg) msgs.push(rec.msg);
    } catch {
      msgs.push(line.trim());
    }
  }
  return msgs.slice(-max);
}

export class OciRuntime {
  constructor(readonly opts: OciRuntimeOptions) {}

  /** Global arguments; `logFile` gets the runtime's own log for this container. */
  globalArgs(logFile?: string): string[] {
    const a = ["--root", this.opts.root];
    if (logFile) a.push("--log", logFile, "--log-format", "json");
    if (this.opts.systemdCgroup) a.push("--systemd-cgroup");
    return [...a, ...this.opts.options];
  }

  private async run(
    args: string[],
    logFile?: string,
  ): Promise<{ ok: boolean; stdout: string; error: string }> {
    const out = await new Deno.Command(this.opts.binary, {
      args: [...this.globalArgs(logFile), ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success) return { ok: true, stdout: decoder.decode(out.stdout), error: "" };
    let error = decoder.decode(out.stderr).trim();
    if (logFile) {
      const logged = runtimeLogErrors(await Deno.readTextFile(logFile).catch(() => ""));
      const extra = logged.filter((m) => !error.includes(m));
      if (extra.length) error = `${error}${error ? "; " : ""}runtime log: ${extra.join("; ")}`;
    }
    return { ok: false, stdout: decoder.decode(out.stdout), error };
  }

  async start(id: string, logFile?: string): Promise<void> {
    const r = await this.run(["start", id], logFile);
    if (!r.ok) throw new InternalError(`${this.opts.binary} start ${id} failed: ${r.error}`);
  }

  /** Sends a signal; false when the container is not running (nothing to signal). */
  async kill(id: string, signal: string, all = false): Promise<boolean> {
    const r = await this.run(["kill", ...(all ? ["--all"] : []), id, signal]);
    if (r.ok) return true;
    if (/not running|does not exist|container not found|process already finished/i.test(r.error)) {
      return false;
    }
    throw new InternalError(`${this.opts.binary} kill ${id} ${signal} failed: ${r.error}`);
  }

  /** Deletes the runtime's state of a container; a missing container is not an error. */
  async delete(id: string, force = true): Promise<void> {
    const r = await this.run(["delete", ...(force ? ["--force"] : []), id]);
    if (r.ok || /does not exist|not found/i.test(r.error)) return;
    throw new InternalError(`${this.opts.binary} delete ${id} failed: ${r.error}`);
  }

  async state(id: string): Promise<OciState | null> {
    const r = await this.run(["state", id]);
    if (!r.ok) {
      if (/does not exist|not found/i.test(r.error)) return null;
      throw new NotFoundError(`${this.opts.binary} state ${id} failed: ${r.error}`);
    }
    return JSON.parse(r.stdout) as OciState;
  }
}
