/**
 * `skiff exec`: runs a command in a container, to completion through ExecSync, or with
 * -i/-t streamed through the CRI streaming server.
 */
import { type Command, parseFlags, UsageError } from "../command.ts";
import { jsonText } from "../format.ts";
import { type CriContext, OPERATOR_HELP, OPERATOR_OPTIONS, runOperator } from "../operator.ts";
import { runRemoteCommand } from "../remote.ts";
import { splitExecArgs } from "../exec_args.ts";

const USAGE = `Usage: skiff exec [-i] [-t] [--timeout SECONDS] CONTAINER COMMAND [ARG...]

Runs a command in a container. Without -i/-t it runs to completion (ExecSync) and
exits with the command's exit code; with -i (stdin) and -t (terminal) it streams
through the CRI streaming server.
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  interactive: { type: "boolean", short: "i" },
  tty: { type: "boolean" },
  timeout: { type: "string" },
} as const;

/** The flags, and the container with the command (what follows the flags). */
export function parseExecArgs(argv: string[]) {
  const { options, command } = splitExecArgs(argv);
  return { ...parseFlags(options, OPTIONS), command };
}

/** --timeout in whole seconds; 0 (no timeout) when absent. */
export function execTimeout(timeout: string | undefined): number {
  const seconds = timeout === undefined ? 0 : Number(timeout);
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new UsageError("--timeout: expected whole seconds");
  }
  return seconds;
}

export const execCommand: Command = {
  name: "exec",
  usage: USAGE,
  async run(argv, io) {
    const { values, command } = parseExecArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      const timeout = execTimeout(values.timeout);
      if (command.length < 2) throw new UsageError("expected CONTAINER and a COMMAND");
      const [container, ...cmd] = command;
      const tty = values.tty === true;
      const stdin = values.interactive === true;
      if (!tty && !stdin) return await execSync(ctx, container, cmd, timeout);
      return await execStreaming(ctx, container, cmd, { tty, stdin });
    });
  },
};

/** Runs to completion; exits with the command's exit code (0 with --output json). */
async function execSync(
  ctx: CriContext,
  container: string,
  cmd: string[],
  timeout: number,
): Promise<number> {
  const res = await ctx.client.call("ExecSync", {
    container_id: container,
    cmd,
    timeout: String(timeout),
  });
  if (ctx.json) {
    const dec = new TextDecoder();
    await ctx.io.out(jsonText({
      exit_code: res.exit_code,
      stdout: dec.decode(res.stdout),
      stderr: dec.decode(res.stderr),
    }));
    return 0;
  }
  await ctx.io.out(res.stdout);
  await ctx.io.err(res.stderr);
  return res.exit_code;
}

/** Streams through the URL the Exec RPC returns, in raw mode on a terminal with -t. */
async function execStreaming(
  ctx: CriContext,
  container: string,
  cmd: string[],
  { tty, stdin }: { tty: boolean; stdin: boolean },
): Promise<number> {
  const { url } = await ctx.client.call("Exec", {
    container_id: container,
    cmd,
    tty,
    stdin,
    stdout: true,
    stderr: !tty,
  });
  const raw = tty && Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  const resizes = tty && Deno.stdout.isTerminal() ? terminalSizes() : undefined;
  try {
    return await runRemoteCommand(url, {
      stdin: stdin ? Deno.stdin.readable : undefined,
      stdout: (b) => ctx.io.out(b),
      stderr: (b) => ctx.io.err(b),
      resizes,
    });
  } finally {
    if (raw) Deno.stdin.setRaw(false);
  }
}

async function* terminalSizes(): AsyncGenerator<{ width: number; height: number }> {
  let last = "";
  while (true) {
    const { columns, rows } = Deno.consoleSize();
    const key = `${columns}x${rows}`;
    if (key !== last) {
      last = key;
      yield { width: columns, height: rows };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
