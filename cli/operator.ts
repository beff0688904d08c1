/**
 * What the operator commands (`ps`, `pods`, `images`, `pull`, `logs`, `exec`, `inspect`,
 * `rm`, `stats`) share: the common flags (output format, socket, config) and their help,
 * finding the CRI socket, and a connected client for the command's body.
 */
import { DEFAULT_CONFIG_PATH, loadConfig } from "../core/config/mod.ts";
import { CriClient } from "../cri/client.ts";
import { type CommandIo, showHelp, UsageError } from "./command.ts";

/** Flags every operator command takes. */
export const OPERATOR_OPTIONS = {
  output: { type: "string", short: "o", default: "table" },
  socket: { type: "string" },
  config: { type: "string", short: "c" },
  help: { type: "boolean", short: "h" },
} as const;

export const OPERATOR_HELP = `Common options:
  -o, --output FORMAT   table (default) or json
      --socket PATH     CRI socket (default: the config's "socket", or $SKIFF_SOCKET)
  -c, --config FILE     config file to read the socket from (default ${DEFAULT_CONFIG_PATH})
  -h, --help            this help`;

export interface OperatorValues {
  output: string;
  socket?: string;
  config?: string;
  help?: boolean;
}

/** What an operator command's body works with. */
export interface CriContext {
  client: CriClient;
  /** --output json: print CRI replies as JSON instead of tables. */
  json: boolean;
  io: CommandIo;
}

/** --output: true for json, false for table; anything else is a usage error. */
export function outputIsJson(output: string): boolean {
  if (output !== "table" && output !== "json") {
    throw new UsageError(`--output ${JSON.stringify(output)}: use table or json`);
  }
  return output === "json";
}

/** The CRI socket: --socket, else $SKIFF_SOCKET, else the config file's `socket`. */
export async function socketFrom(values: { socket?: string; config?: string }): Promise<string> {
  if (values.socket) return values.socket;
  const env = Deno.env.get("SKIFF_SOCKET");
  if (env) return env;
  return (await loadConfig(values.config)).config.socket;
}

/**
 * Runs an operator command's body: `--help` prints `usage`; otherwise checks --output,
 * connects to the CRI socket and closes the client when the body is done.
 */
export async function runOperator(
  io: CommandIo,
  usage: string,
  values: OperatorValues,
  body: (ctx: CriContext) => Promise<number>,
): Promise<number> {
  if (values.help) return await showHelp(io, usage);
  const json = outputIsJson(values.output);
  const socket = await socketFrom(values);
  try {
    await Deno.stat(socket);
  } catch {
    throw new UsageError(
      `no CRI socket at ${socket}: is Skiff running? (start it with \`skiff serve\`, or pass --socket)`,
    );
  }
  const client = new CriClient(socket);
  try {
    return await body({ client, json, io });
  } finally {
    client.close();
  }
}

/** Flags every listing command (`ps`, `pods`, `stats`) takes to select by label. */
export const LABEL_OPTION = { label: { type: "string", multiple: true } } as const;

/** `--label k=v` (repeatable) → a CRI label selector. */
export function labelSelector(labels: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of labels ?? []) {
    const i = l.indexOf("=");
    if (i <= 0) throw new UsageError(`--label ${JSON.stringify(l)}: expected key=value`);
    out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}
