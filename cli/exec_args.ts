/**
 * Splitting `skiff exec`'s arguments into its flags and the command to run. Apart from
 * cli/commands/exec.ts so that cli/mod.ts can export it without loading the command.
 */

/**
 * `exec [flags] CONTAINER CMD [ARGS...]`: flags end at the container ID; everything after
 * it is the command with its own flags (`ls -l`). `-it` is split into `-i -t`, and `-t`
 * here means --tty (for logs it means --timestamps).
 */
export function splitExecArgs(argv: string[]): { options: string[]; command: string[] } {
  const withValue = new Set(["-o", "--output", "--socket", "-c", "--config", "--timeout"]);
  const options: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("-") || a === "-") break;
    if (a === "--") {
      i++;
      break;
    }
    if (/^-[it]{2}$/.test(a)) options.push("-i", "--tty");
    else if (a === "-t") options.push("--tty");
    else options.push(a);
    if (withValue.has(a) && i + 1 < argv.length) options.push(argv[++i]);
  }
  return { options, command: argv.slice(i) };
}
