/**
 * The `skiff` command: `serve` (default), `version`, `config default`, `--help` everywhere.
 */
import { parseArgs } from "node:util";
import { type Config, loadConfig, renderDefaultConfig } from "./core/config/mod.ts";
import { configureLogging, type Logger, logger } from "./core/log.ts";
import { applyReload } from "./core/reload.ts";
import { errorMessage } from "./core/errors.ts";
import { RUNTIME_API_VERSION, SKIFF_VERSION } from "./core/version.ts";

const HELP: Record<string, string> = {
  main: `skiff — a Kubernetes container runtime (CRI) for one node

Usage:
  skiff [serve] [--config FILE]   run the runtime (default command)
  skiff version                   print version information
  skiff config default            print the complete default config file

Operator commands (talk CRI to the local socket; --output json for scripts):
  skiff ps | pods | images        list containers, pod sandboxes, images
  skiff pull IMAGE                pull an image
  skiff logs [-f] CONTAINER       print (and follow) a container's log
  skiff exec [-it] CONTAINER CMD  run a command in a container
  skiff inspect ID                verbose status of a container, pod or image
  skiff rm [-f] ID                remove a container, pod or image
  skiff stats                     containers' CPU, memory and disk usage
  skiff dashboard                 print the dashboard URL (with the admin token)
  skiff COMMAND --help            help for a command

Config: /etc/skiff/config.toml unless --config is given; every key is optional.
`,
  serve: `Usage: skiff serve [--config FILE] [--log-level LEVEL]

Serves CRI on the configured unix socket (default /run/skiff/skiff.sock), the streaming
server and the admin API. SIGTERM or SIGINT stops it gracefully; running containers are
left running. SIGHUP re-reads the config file: log level/format, registry mirrors and
credentials, pinned images and runtime handlers (for new pods) change live; other changed
keys are logged as needing a restart.

Options:
  -c, --config FILE     config file (default /etc/skiff/config.toml)
      --log-level L     override log_level: debug, info, warn, error
  -h, --help            this help
`,
  version: `Usage: skiff version

Prints Skiff's version, the CRI API version and the Deno version.
`,
  config: `Usage: skiff config default

Prints the complete default config file, with every key commented.
`,
};

function fail(message: string): never {
  console.error(`skiff: ${message}`);
  Deno.exit(2);
}

export async function main(argv: string[]): Promise<number> {
  // Operator commands (cli/) parse their own flags.
  const { isCliCommand, runCli } = await import("./cli/mod.ts");
  if (isCliCommand(argv[0])) return await runCli(argv[0], argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string", short: "c" },
        "log-level": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    fail(`${errorMessage(err)}\n\n${HELP.main}`);
  }
  const help = parsed.values.help === true;
  // `skiff --help` is about skiff; `skiff serve --help` about serving.
  if (help && parsed.positionals.length === 0) return print(HELP.main);
  const [command = "serve", ...rest] = parsed.positionals;

  switch (command) {
    case "version":
      if (help) return print(HELP.version);
      console.log(
        `skiff ${SKIFF_VERSION}\nCRI API ${RUNTIME_API_VERSION}\ndeno ${Deno.version.deno}`,
      );
      return 0;
    case "config":
      if (help || rest[0] !== "default") {
        if (!help) console.error(`skiff: unknown config command ${JSON.stringify(rest[0] ?? "")}`);
        return print(HELP.config, help ? 0 : 2);
      }
      await Deno.stdout.write(new TextEncoder().encode(renderDefaultConfig()));
      return 0;
    case "serve":
      if (help) return print(HELP.serve);
      return await serve(parsed.values.config, parsed.values["log-level"]);
    case "help":
      return print(HELP.main);
    default:
      console.error(`skiff: unknown command ${JSON.stringify(command)}\n`);
      return print(HELP.main, 2);
  }
}

function print(text: string, code = 0): number {
  (code === 0 ? console.log : console.error)(text.trimEnd());
  return code;
}

async function serve(configPath: string | undefined, logLevel: string | undefined) {
  let loaded;
  try {
    loaded = await loadConfig(configPath);
  } catch (err) {
    fail(errorMessage(err));
  }
  const { config } = loaded;
  if (logLevel !== undefined) {
    if (!["debug", "info", "warn", "error"].includes(logLevel)) {
      fail(`--log-level ${JSON.stringify(logLevel)}: expected debug, info, warn or error`);
    }
    config.log_level = logLevel as typeof config.log_level;
  }
  configureLogging({ level: config.log_level, format: config.log_format });
  const log = logger("skiff");

  // A bug in one handler must never take the node's runtime down with it.
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("unhandled rejection", { error: errorMessage(e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("uncaught exception", { error: errorMessage(e.error) });
  });

  const { startDaemon } = await import("./daemon.ts");
  let daemon;
  try {
    daemon = await startDaemon(config);
  } catch (err) {
    log.error("start-up failed", { error: errorMessage(err) });
    return 1;
  }
  log.info("skiff started", { version: SKIFF_VERSION, config: loaded.path, pid: Deno.pid });

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
    reloading = reloading.then(() => reloadConfig(configPath, logLevel, config, log));
  });
  return await stopped.promise;
}

async function reloadConfig(
  configPath: string | undefined,
  logLevel: string | undefined,
  config: Config,
  log: Logger,
): Promise<void> {
  let next: Config;
  let path: string;
  try {
    ({ config: next, path } = await loadConfig(configPath));
  } catch (err) {
    log.error("config reload failed; the running config is unchanged", {
      error: errorMessage(err),
    });
    return;
  }
  // --log-level on the command line keeps winning over the file, as at start-up.
  if (logLevel !== undefined) next.log_level = logLevel as Config["log_level"];
  const { applied, restartNeeded } = applyReload(config, next);
  configureLogging({ level: config.log_level, format: config.log_format });
  for (const key of restartNeeded) {
    log.warn(`restart needed for ${key}`, { key, config: path });
  }
  log.info("config reloaded", { config: path, applied: applied.join(",") || "nothing" });
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
