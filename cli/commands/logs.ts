/** `skiff logs`: prints (and follows) a container's CRI log file. */
import { type CriLogEntry, followLog, formatEntry, parseSince, readLog } from "../../admin/logs.ts";
import { type Command, parseFlags, UsageError } from "../command.ts";
import { type CriContext, OPERATOR_HELP, OPERATOR_OPTIONS, runOperator } from "../operator.ts";

const USAGE = `Usage: skiff logs [-f] [--tail N] [--since TIME] [-t] CONTAINER

Prints a container's log (the CRI log file at its ContainerStatus.log_path).
  -f, --follow       keep printing new lines; survives log rotation
      --tail N       only the last N lines
      --since T      RFC 3339 time or a duration back from now (30s, 5m, 2h)
  -t, --timestamps   prefix each line with its time
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  follow: { type: "boolean", short: "f" },
  tail: { type: "string" },
  since: { type: "string" },
  timestamps: { type: "boolean", short: "t" },
} as const;

export function parseLogsArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

/** What to read: `--tail` lines (-1 or absent: all), `--since` as epoch milliseconds. */
export interface LogWindow {
  tail?: number;
  sinceMs?: number;
}

export function logWindow(flags: { tail?: string; since?: string }): LogWindow {
  const window: LogWindow = {};
  if (flags.tail !== undefined) {
    const tail = Number(flags.tail);
    if (!Number.isInteger(tail) || tail < -1) throw new UsageError("--tail: expected a number");
    if (tail !== -1) window.tail = tail;
  }
  if (flags.since) {
    const t = parseSince(flags.since);
    if (t === null) throw new UsageError("--since: expected an RFC 3339 time or a duration (5m)");
    window.sinceMs = t;
  }
  return window;
}

export const logsCommand: Command = {
  name: "logs",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseLogsArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      if (positionals.length !== 1) throw new UsageError("expected exactly one CONTAINER");
      return await logs(ctx, positionals[0], logWindow(values), values);
    });
  },
};

async function logs(
  ctx: CriContext,
  container: string,
  window: LogWindow,
  flags: { follow?: boolean; timestamps?: boolean },
): Promise<number> {
  const st = (await ctx.client.call("ContainerStatus", { container_id: container })).status;
  if (!st?.log_path) throw new Error(`container ${container} has no log file`);
  // Tables go to the stream the line came from; JSON lines all go to stdout.
  const print = (e: CriLogEntry) =>
    ctx.json
      ? ctx.io.out(JSON.stringify(e) + "\n")
      : (e.stream === "stderr" ? ctx.io.err : ctx.io.out)(
        formatEntry(e, flags.timestamps === true),
      );
  const first = await readLog(st.log_path, window);
  for (const e of first.entries) await print(e);
  if (!flags.follow) return 0;
  const ac = new AbortController();
  const stop = () => ac.abort();
  Deno.addSignalListener("SIGINT", stop);
  try {
    const follow = followLog(st.log_path, {
      offset: first.offset,
      ino: first.ino,
      signal: ac.signal,
      sinceMs: window.sinceMs,
    });
    for await (const e of follow) await print(e);
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
  }
  return 0;
}
