/**
 * The `skiff` command: `serve` (default), `version`, `config default`, the operator
 * commands (`ps`, `logs`, `exec`, …) and `--help` everywhere. The commands live in
 * cli/commands/, one file each; cli/mod.ts dispatches.
 */
import { main } from "./cli/mod.ts";

export { main };

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
