/** `skiff dashboard`: the dashboard's URL, with the admin token in its fragment. */
import { adminTokenFile, DEFAULT_CONFIG_PATH, loadConfig } from "../../core/config/mod.ts";
import { errorMessage } from "../../core/errors.ts";
import { type Command, parseFlags, showHelp, UsageError } from "../command.ts";
import { jsonText } from "../format.ts";
import { outputIsJson } from "../operator.ts";

const USAGE = `Usage: skiff dashboard

Prints the dashboard's URL with the admin token in its fragment (never sent to the
server); open it in a browser on this machine (or through an SSH tunnel).

Options:
  -o, --output FORMAT   table (default) or json
  -c, --config FILE     config file to read the admin address from (default ${DEFAULT_CONFIG_PATH})
  -h, --help            this help`;

const OPTIONS = {
  output: { type: "string", short: "o", default: "table" },
  config: { type: "string", short: "c" },
  help: { type: "boolean", short: "h" },
} as const;

export function parseDashboardArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

export const dashboardCommand: Command = {
  name: "dashboard",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseDashboardArgs(argv);
    if (values.help) return await showHelp(io, USAGE);
    const json = outputIsJson(values.output);
    const url = await dashboardUrl(values.config);
    await io.out(json ? jsonText({ url }) : url + "\n");
    return 0;
  },
};

async function dashboardUrl(configPath: string | undefined): Promise<string> {
  const { config } = await loadConfig(configPath);
  if (!config.admin.address) {
    throw new UsageError("the admin server is disabled (admin.address is empty)");
  }
  let token: string;
  try {
    token = (await Deno.readTextFile(adminTokenFile(config))).trim();
  } catch (err) {
    throw new Error(
      `cannot read the admin token at ${adminTokenFile(config)} (${errorMessage(err)}); ` +
        "run as root, and start Skiff once so that it creates the token",
    );
  }
  const scheme = config.admin.tls_cert ? "https" : "http";
  return `${scheme}://${config.admin.address}/#token=${token}`;
}
