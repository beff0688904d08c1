/** `skiff config default`: the complete default config file, every key commented. */
import { renderDefaultConfig } from "../../core/config/mod.ts";
import { type Command, parseFlags, showHelp } from "../command.ts";

const USAGE = `Usage: skiff config default

Prints the complete default config file, with every key commented.`;

const OPTIONS = { help: { type: "boolean", short: "h" } } as const;

export const configCommand: Command = {
  name: "config",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, OPTIONS);
    if (values.help) return await showHelp(io, USAGE);
    if (positionals[0] !== "default") {
      await io.err(
        `skiff: unknown config command ${JSON.stringify(positionals[0] ?? "")}\n` +
          USAGE.trimEnd() + "\n",
      );
      return 2;
    }
    await io.out(renderDefaultConfig());
    return 0;
  },
};
