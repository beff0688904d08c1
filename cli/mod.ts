/**
 * The `skiff` command line: finds the command (cli/commands/, one file each), lets it parse
 * its own flags, and turns what it throws into a message and an exit code: 2 for bad
 * usage, 1 for a failed operation. The operator commands talk CRI to the local socket
 * (like crictl), so they show exactly what kubelet would see.
 */
import { parseArgs } from "node:util";
import { errorMessage } from "../core/errors.ts";
import {
  type Command,
  type CommandEntry,
  type CommandIo,
  FlagError,
  stdio,
  UsageError,
} from "./command.ts";
import { SERVE_OPTIONS, serveCommand } from "./commands/serve.ts";

export { splitExecArgs } from "./exec_args.ts";
export type { Command, CommandEntry, CommandIo } from "./command.ts";

/** Running Skiff itself. */
export const RUNTIME_COMMANDS: readonly CommandEntry[] = [
  {
    name: "serve",
    synopsis: "[serve] [--config FILE]",
    summary: "run the runtime (default command)",
    load: async () => serveCommand,
  },
  {
    name: "version",
    synopsis: "version",
    summary: "print version information",
    load: async () => (await import("./commands/version.ts")).versionCommand,
  },
  {
    name: "config",
    synopsis: "config default",
    summary: "print the complete default config file",
    load: async () => (await import("./commands/config.ts")).configCommand,
  },
];

/** Looking at a running Skiff through its CRI socket (and admin API). */
export const OPERATOR_COMMANDS: readonly CommandEntry[] = [
  {
    name: "ps",
    synopsis: "ps [-a]",
    summary: "list containers",
    load: async () => (await import("./commands/ps.ts")).psCommand,
  },
  {
    name: "pods",
    synopsis: "pods",
    summary: "list pod sandboxes",
    load: async () => (await import("./commands/pods.ts")).podsCommand,
  },
  {
    name: "images",
    synopsis: "images",
    summary: "list images",
    load: async () => (await import("./commands/images.ts")).imagesCommand,
  },
  {
    name: "pull",
    synopsis: "pull IMAGE",
    summary: "pull an image",
    load: async () => (await import("./commands/pull.ts")).pullCommand,
  },
  {
    name: "logs",
    synopsis: "logs [-f] CONTAINER",
    summary: "print (and follow) a container's log",
    load: async () => (await import("./commands/logs.ts")).logsCommand,
  },
  {
    name: "exec",
    synopsis: "exec [-it] CONTAINER CMD",
    summary: "run a command in a container",
    load: async () => (await import("./commands/exec.ts")).execCommand,
  },
  {
    name: "inspect",
    synopsis: "inspect ID",
    summary: "verbose status of a container, pod or image",
    load: async () => (await import("./commands/inspect.ts")).inspectCommand,
  },
  {
    name: "rm",
    synopsis: "rm [-f] ID",
    summary: "remove a container, pod or image",
    load: async () => (await import("./commands/rm.ts")).rmCommand,
  },
  {
    name: "stats",
    synopsis: "stats",
    summary: "containers' CPU, memory and disk usage",
    load: async () => (await import("./commands/stats.ts")).statsCommand,
  },
  {
    name: "dashboard",
    synopsis: "dashboard",
    summary: "print the dashboard URL (with the admin token)",
    load: async () => (await import("./commands/dashboard.ts")).dashboardCommand,
  },
];

const COMMANDS = new Map(
  [...RUNTIME_COMMANDS, ...OPERATOR_COMMANDS].map((c) => [c.name, c] as const),
);

export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.get(name);
}

/** The top-level help: every command with its synopsis and summary. */
export function topLevelHelp(): string {
  const entries = [
    ...RUNTIME_COMMANDS.map((c) => [c.synopsis, c.summary]),
    ...OPERATOR_COMMANDS.map((c) => [c.synopsis, c.summary]),
    ["COMMAND --help", "help for a command"],
  ];
  const width = Math.max(...entries.map(([synopsis]) => synopsis.length)) + 2;
  const line = ([synopsis, summary]: string[]) => `  skiff ${synopsis.padEnd(width)}${summary}`;
  const runtime = entries.slice(0, RUNTIME_COMMANDS.length);
  const operator = entries.slice(RUNTIME_COMMANDS.length);
  return `skiff — a Kubernetes container runtime (CRI) for one node

Usage:
${runtime.map(line).join("\n")}

Operator commands (talk CRI to the local socket; --output json for scripts):
${operator.map(line).join("\n")}

Config: /etc/skiff/config.toml unless --config is given; every key is optional.`;
}

/**
 * Which command `argv` asks for, and its arguments. The command is the first word; serve's
 * flags may come before it (`skiff --config FILE` serves, `skiff -c FILE version`), and
 * with no command `--help` asks for the top-level help and anything else serves.
 */
export function splitCommand(argv: string[]): { name: string; args: string[] } {
  if (argv.length === 0) return { name: "serve", args: [] };
  if (!argv[0].startsWith("-")) return { name: argv[0], args: argv.slice(1) };
  const { values, tokens } = parseArgs({
    args: argv,
    options: SERVE_OPTIONS,
    allowPositionals: true,
    strict: true,
    tokens: true,
  });
  const first = tokens.find((t) => t.kind === "positional");
  if (!first) return { name: values.help ? "help" : "serve", args: argv };
  return {
    name: argv[first.index],
    args: [...argv.slice(0, first.index), ...argv.slice(first.index + 1)],
  };
}

/** Runs the `skiff` command line; resolves with the process exit code. */
export async function main(argv: string[], io: CommandIo = stdio): Promise<number> {
  let split;
  try {
    split = splitCommand(argv);
  } catch (err) {
    await io.err(`skiff: ${errorMessage(err)}\n\n${topLevelHelp()}\n`);
    return 2;
  }
  const { name, args } = split;
  if (name === "help") return await help(args[0], io);
  const entry = findCommand(name);
  if (!entry) {
    await io.err(`skiff: unknown command ${JSON.stringify(name)}\n\n${topLevelHelp()}\n`);
    return 2;
  }
  return await runCommand(await entry.load(), args, io);
}

/** `skiff help [COMMAND]`: the command's help, or the top-level one (as for any other word). */
async function help(name: string | undefined, io: CommandIo): Promise<number> {
  const command = name === undefined ? undefined : await findCommand(name)?.load();
  await io.out((command?.usage ?? topLevelHelp()).trimEnd() + "\n");
  return 0;
}

/** Runs one command, mapping what it throws to a message on stderr and an exit code. */
export async function runCommand(command: Command, argv: string[], io: CommandIo) {
  try {
    return await command.run(argv, io);
  } catch (err) {
    // `skiff logs -f | head`: the reader went away; that is the end, not a failure.
    if (err instanceof Deno.errors.BrokenPipe) return 0;
    const prefix = `skiff ${command.name}: `;
    if (err instanceof FlagError) {
      await io.err(`${prefix}${err.message}\n\n${command.usage.trimEnd()}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      await io.err(`${prefix}${err.message}\n`);
      return 2;
    }
    await io.err(`${prefix}${await failureMessage(err)}\n`);
    return 1;
  }
}

/** A failed CRI call names the method and the gRPC code; anything else, its message. */
async function failureMessage(err: unknown): Promise<string> {
  // Loaded here, not at start: the daemon must not load the CRI client.
  const { CriCallError } = await import("../cri/client.ts");
  return err instanceof CriCallError
    ? `${err.method}: ${err.codeName}: ${err.details}`
    : errorMessage(err);
}
