/** `skiff version`: Skiff's, the CRI API's and Deno's versions. */
import { RUNTIME_API_VERSION, SKIFF_VERSION } from "../../core/version.ts";
import { type Command, parseFlags, showHelp } from "../command.ts";

const USAGE = `Usage: skiff version

Prints Skiff's version, the CRI API version and the Deno version.`;

const OPTIONS = { help: { type: "boolean", short: "h" } } as const;

export const versionCommand: Command = {
  name: "version",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parseFlags(argv, OPTIONS);
    if (values.help) return await showHelp(io, USAGE);
    await io.out(
      `skiff ${SKIFF_VERSION}\nCRI API ${RUNTIME_API_VERSION}\ndeno ${Deno.version.deno}\n`,
    );
    return 0;
  },
};
