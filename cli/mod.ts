/**
 * The `skiff` command line: finds the command (cli/commands/, one file each), lets it parse
 * its own flags, and turns what it throws into a message and an exit code: 2 for bad
 * usage, 1 for a failed operation. The operator commands talk CRI to the local socket
 * (like crictl), so they show exactly what kubelet would see.
 */
import { parseArgs } from "node:util";
import { errorMessage } from "../core/errors.ts";
import { CriCallError } from "../cri/client.ts";
import { type Command, type CommandIo, FlagError, stdio, UsageError } from "./command.ts";
import { configCommand } from "./commands/config.ts";
import { dashboardCommand } from "./commands/dashboard.ts";
import { execCommand } from "./commands/exec.ts";
import { imagesCommand } from "./commands/images.ts";
import { inspectCommand } from "./commands/inspect.ts";
import { logsCommand } from "./commands/logs.ts";
import { podsCommand } from "./commands/pods.ts";
import { psCommand } from "./commands/ps.ts";
import { pullCommand } from "./commands/pull.ts";
import { rmCommand } from "./commands/rm.ts";
import { SERVE_OPTIONS, serveCommand } from "./commands/serve.ts";
import { statsCommand } from "./commands/stats.ts";
import { versionCommand } from "./commands/version.ts";

export { splitExecArgs } from "./commands/exec.ts";
export type { Command, CommandIo } from "./command.ts";

/** Running Skiff itself. */
export const RUNTIME_COMMANDS: readonly Command[] = [serveCommand, versionCommand, configCommand];

/** Looking at a running Skiff through its CRI socket (and admin API). */
export const OPERATOR_COMMANDS: readonly Command[] = [
  psCommand,
  podsCommand,
  imagesCommand,
  pullCommand,
  logsCommand,
  execCommand,
  inspectCommand,
  rmCommand,
  statsCommand,
  dashboardCommand,
];

const COMMANDS = new Map(
  [...RUNTIME_COMMANDS, ...OPERATOR_COMMANDS].map((c) => [c.name, c] as const),
);

export function findCommand(name: string): Command | undefined {
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
  const command = findCommand(name);
  if (!command) {
    await io.err(`skiff: unknown command ${JSON.stringify(name)}\n\n${topLevelHelp()}\n`);
    return 2;
  }
  return await runCommand(command, args, io);
}

/** `skiff help [COMMAND]`: the command's help, or the top-level one (as for any other word). */
async function help(name: string | undefined, io: CommandIo): Promise<number> {
  const command = name === undefined ? undefined : findCommand(name);
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
    const message = err instanceof CriCallError
      ? `${err.method}: ${err.codeName}: ${err.details}`
      : errorMessage(err);
    await io.err(`${prefix}${message}\n`);
    return 1;
  }
}
