/**
 * What every `skiff` command is: a name, a line for the top-level help, its own `--help`
 * text and a `run` that parses its own flags. Shared here: the error kinds the dispatcher
 * (cli/mod.ts) maps to exit code 2, flag parsing, and the process's standard streams.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { errorMessage, InvalidArgumentError } from "../core/errors.ts";

/** Where a command writes. Writes finish before they resolve (no lost output on exit). */
export interface CommandIo {
  out(data: string | Uint8Array): Promise<void>;
  err(data: string | Uint8Array): Promise<void>;
}

export interface Command {
  /** The word after `skiff`. */
  readonly name: string;
  /** The command's `--help` text. */
  readonly usage: string;
  /** Runs the command with the arguments after its name; resolves with the exit code. */
  run(argv: string[], io: CommandIo): Promise<number>;
}

/**
 * A command as the top-level help lists it. Its module is loaded only to run it or show
 * its help: the daemon (`serve`) never loads the operator commands and their CRI client.
 */
export interface CommandEntry {
  readonly name: string;
  /** How the top-level help shows the command line, without the leading `skiff `. */
  readonly synopsis: string;
  /** One line for the top-level help. */
  readonly summary: string;
  load(): Promise<Command>;
}

/**
 * Bad input on the command line: printed as `skiff CMD: message`, exit code 2 (other
 * errors, including other InvalidArgumentErrors such as a bad config file, exit 1).
 */
export class UsageError extends InvalidArgumentError {}

/** A flag the command does not know (or misused): like UsageError, followed by the help. */
export class FlagError extends UsageError {}

/** Parses `argv` against one command's flags, strictly; positionals are allowed. */
export function parseFlags<O extends ParseArgsOptionsConfig>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new FlagError(errorMessage(err));
  }
}

/** Prints a help text on stdout; exit code 0. */
export async function showHelp(io: CommandIo, usage: string): Promise<number> {
  await io.out(usage.trimEnd() + "\n");
  return 0;
}

const encoder = new TextEncoder();

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, data: string | Uint8Array) {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  let off = 0;
  while (off < bytes.length) off += await w.write(bytes.subarray(off));
}

/** The process's stdout and stderr. */
export const stdio: CommandIo = {
  out: (data) => writeAll(Deno.stdout, data),
  err: (data) => writeAll(Deno.stderr, data),
};
