/**
 * `deno task compile`: builds the single `skiff` binary with `deno compile`, every
 * permission embedded (--allow-all: Skiff is a node's container runtime, run as root) and
 * the files read at run time through import.meta.url included: the CRI schema
 * (cri/api.proto) and the dashboard's browser build (admin/dashboard/dist/, built first).
 *
 * `deno compile` appends the program to a `denort` base binary, which it downloads from
 * dl.deno.land unless `DENORT_BIN` names one. Machines without internet set DENORT_BIN
 * (denort-<target>.zip for this exact Deno version, unzipped); otherwise use the offline
 * release tarball (scripts/release.sh), which needs no download at all.
 *
 * A compiled binary carries the daemon's flags but not its environment (DAEMON_ENV in
 * core/v8_flags.ts, read by Deno before any code runs): whatever starts it sets that.
 *
 *   deno task compile [--output dist/skiff] [--dry-run]
 */
import { parseArgs } from "node:util";
import { build as buildDashboard } from "../admin/dashboard/build.ts";

import { DAEMON_RUN_FLAGS } from "../core/v8_flags.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const TARGET = "x86_64-unknown-linux-gnu";

export function compileArgs(output: string): string[] {
  return [
    "compile",
    "--allow-all",
    "--no-check", // `deno task check` type-checks; compile only packages
    ...DAEMON_RUN_FLAGS,
    "--include",
    "cri/api.proto",
    "--include",
    "admin/dashboard/dist",
    "--target",
    TARGET,
    "--output",
    output,
    "main.ts",
  ];
}

function denoDir(): string {
  return Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`;
}

/** Where `deno compile` caches the base binary it downloaded, if it ever did. */
function cachedDenort(): string {
  return `${denoDir()}/dl/release/v${Deno.version.deno}/denort-${TARGET}.zip`;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Null when compiling can proceed offline; otherwise what is wrong and what to do. */
export function denortProblem(env: { DENORT_BIN?: string }): string | null {
  const denort = env.DENORT_BIN;
  const how = `Get denort-${TARGET}.zip for Deno ${Deno.version.deno} ` +
    `(https://dl.deno.land/release/v${Deno.version.deno}/denort-${TARGET}.zip) on a machine ` +
    `with internet, unzip it here, and run: DENORT_BIN=/path/to/denort deno task compile. ` +
    `Without it, use the offline release tarball: scripts/release.sh`;
  if (denort === undefined || denort === "") {
    if (exists(cachedDenort())) return null;
    return `deno compile needs a denort base binary and this machine cannot download one ` +
      `(DENORT_BIN is not set and ${cachedDenort()} is not cached). ${how}`;
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(denort);
  } catch {
    return `DENORT_BIN=${denort}: no such file. ${how}`;
  }
  if (!info.isFile || ((info.mode ?? 0) & 0o111) === 0) {
    return `DENORT_BIN=${denort} is not an executable file. ${how}`;
  }
  const self = Deno.statSync(Deno.execPath());
  if (info.ino === self.ino && info.dev === self.dev) {
    return `DENORT_BIN=${denort} is the deno CLI itself, not denort: the result would be a ` +
      `plain deno that ignores Skiff. ${how}`;
  }
  return null;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      output: { type: "string", default: "dist/skiff" },
      "dry-run": { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task compile [--output dist/skiff] [--dry-run]\n" +
        "Set DENORT_BIN=/path/to/denort on machines without internet.",
    );
    return 0;
  }
  const args = compileArgs(values.output!);
  if (values["dry-run"]) {
    console.log([Deno.execPath(), ...args].join(" "));
    return 0;
  }
  const problem = denortProblem({ DENORT_BIN: Deno.env.get("DENORT_BIN") });
  if (problem) {
    console.error(`compile: ${problem}`);
    return 1;
  }
  await buildDashboard();
  // Relative outputs are relative to the repo root, where deno compile runs.
  const output = values.output!.startsWith("/") ? values.output! : `${ROOT}/${values.output}`;
  await Deno.mkdir(output.split("/").slice(0, -1).join("/") || "/", { recursive: true });
  const built = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!built.success) {
    console.error(`compile: deno compile failed (exit ${built.code})`);
    return 1;
  }
  // The binary must be Skiff, not a deno CLI that a wrong base binary would produce.
  const check = await new Deno.Command(output, {
    args: ["version"],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(check.stdout);
  if (!check.success || !text.startsWith("skiff ")) {
    await Deno.remove(output).catch(() => {});
    console.error(
      `compile: ${output} does not behave as skiff (\`${output} version\` printed ` +
        `${
          JSON.stringify(text + new TextDecoder().decode(check.stderr))
        }); is DENORT_BIN a denort binary?`,
    );
    return 1;
  }
  console.log(`compile: built ${output}\n${text.trimEnd()}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
