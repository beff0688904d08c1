/**
 * `skiff serve` (the default command): runs the runtime until SIGTERM or SIGINT; SIGHUP
 * re-reads the config file.
 */
import { type Config, loadConfig } from "../../core/config/mod.ts";
import { configureLogging, type Logger, logger } from "../../core/log.ts";
import { applyReload } from "../../core/reload.ts";
import { errorMessage } from "../../core/errors.ts";
import { SKIFF_VERSION } from "../../core/version.ts";
import { type Command, parseFlags, showHelp } from "../command.ts";

const USAGE = `Usage: skiff serve [--config FILE] [--log-level LEVEL]

Serves CRI on the configured unix socket (default /run/skiff/skiff.sock), the streaming
server and the admin API. SIGTERM or SIGINT stops it gracefully; running containers are
left running. SIGHUP re-reads the config file: log level/format, registry mirrors and
credentials, pinned images and runtime handlers (for new pods) change live; other changed
keys are logged as needing a restart.

Options:
  -c, --config FILE     config file (default /etc/skiff/config.toml)
      --log-level L     override log_level: debug, info, warn, error
  -h, --help            this help`;

/** serve's flags; they may also come before the command (`skiff --config FILE`). */
export const SERVE_OPTIONS = {
  config: { type: "string", short: "c" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const LOG_LEVELS: readonly Config["log_level"][] = ["debug", "info", "warn", "error"];

/** --log-level: one of the config's levels; undefined when absent. */
export function parseLogLevel(level: string | undefined): Config["log_level"] | undefined {
  if (level === undefined) return undefined;
  const found = LOG_LEVELS.find((l) => l === level);
  if (!found) {
    throw new Error(`--log-level ${JSON.stringify(level)}: expected debug, info, warn or error`);
  }
  return found;
}

export const serveCommand: Command = {
  name: "serve",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseFlags(argv, SERVE_OPTIONS);
    if (values.help) return await showHelp(io, USAGE);
    let config: Config;
    let logLevel: Config["log_level"] | undefined;
    let path: string;
    try {
      ({ config, path } = await loadConfig(values.config));
      logLevel = parseLogLevel(values["log-level"]);
    } catch (err) {
      // Bad config or flags stop start-up with exit code 2, naming the key and the file.
      await io.err(`skiff: ${errorMessage(err)}\n`);
      return 2;
    }
    if (logLevel !== undefined) config.log_level = logLevel;
    return await serve(config, path, { configPath: values.config, logLevel });
  },
};

interface ServeFlags {
  configPath: string | undefined;
  logLevel: Config["log_level"] | undefined;
}

async function serve(config: Config, path: string, flags: ServeFlags): Promise<number> {
  configureLogging({ level: config.log_level, format: config.log_format });
  const log = logger("skiff");
  keepRunningOnUncaughtErrors(log);

  const { startDaemon } = await import("../../daemon.ts");
  let daemon;
  try {
    daemon = await startDaemon(config);
  } catch (err) {
    log.error("start-up failed", { error: errorMessage(err) });
    return 1;
  }
  log.info("skiff started", { version: SKIFF_VERSION, config: path, pid: Deno.pid });

  const stopped = Promise.withResolvers<number>();
  let stopping = false;
  const onSignal = (sig: Deno.Signal) => () => {
    if (stopping) return;
    stopping = true;
    log.info("signal received, shutting down", { signal: sig });
    daemon.stop().then(() => stopped.resolve(0), (err) => {
      log.error("shutdown failed", { error: errorMessage(err) });
      stopped.resolve(1);
    });
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(sig, onSignal(sig));
  // SIGHUP re-reads the config file and applies what can change live (core/reload.ts).
  // Reloads run one at a time, in the order the signals came.
  let reloading = Promise.resolve();
  Deno.addSignalListener("SIGHUP", () => {
    if (stopping) return;
    reloading = reloading.then(() => reloadConfig(flags, config, log));
  });
  return await stopped.promise;
}

/** A bug in one handler must never take the node's runtime down with it. */
function keepRunningOnUncaughtErrors(log: Logger): void {
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("unhandled rejection", { error: errorMessage(e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("uncaught exception", { error: errorMessage(e.error) });
  });
}

async function reloadConfig(flags: ServeFlags, config: Config, log: Logger): Promise<void> {
  let next: Config;
  let path: string;
  try {
    ({ config: next, path } = await loadConfig(flags.configPath));
  } catch (err) {
    log.error("config reload failed; the running config is unchanged", {
      error: errorMessage(err),
    });
    return;
  }
  // --log-level on the command line keeps winning over the file, as at start-up.
  if (flags.logLevel !== undefined) next.log_level = flags.logLevel;
  const { applied, restartNeeded } = applyReload(config, next);
  configureLogging({ level: config.log_level, format: config.log_format });
  for (const key of restartNeeded) {
    log.warn(`restart needed for ${key}`, { key, config: path });
  }
  log.info("config reloaded", { config: path, applied: applied.join(",") || "nothing" });
}
