/**
 * The daemon as it ships: `deno bundle` of main.ts into one minified ES module per lazily
 * loaded part (main.js and its chunks), beside the files read at run time through
 * import.meta.url (the CRI schema and the dashboard's browser build). The release tarball,
 * `scripts/setup start`, the benchmarks and the ship tests run this, not the sources.
 *
 * Why: V8 keeps every module's source text for as long as the daemon runs (lazy compilation
 * needs it). Deno hands it TypeScript transpiled with an inline source map, so the sources
 * held were ~3x the code; minified, without source maps, the daemon's RSS after a 200-pod
 * cycle went from ~82 to ~74 MiB (docs/benchmarks.md). Names are kept, so stack traces and
 * error class names stay readable.
 *
 * Two npm packages stay outside the bundle, loaded from node_modules through deno.json (so
 * a bundle runs with `--config <repo or app>/deno.json`): grpc-js (the CLI's client) and ws
 * (WebSocket streaming) are CommonJS that `require()` Node built-ins at run time, which a
 * bundled ES module cannot do.
 *
 *   deno run --allow-all scripts/bundle.ts [--outdir dist/bundle]
 */
import { parseArgs } from "node:util";
import { build as buildDashboard } from "../admin/dashboard/build.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DASHBOARD_DIST = `${ROOT}admin/dashboard/dist`;

/** Packages left for Deno to load at run time (see above). */
export const BUNDLE_EXTERNAL: readonly string[] = ["@grpc/grpc-js", "ws"];

export function bundleArgs(outDir: string): string[] {
  return [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--code-splitting",
    "--minify",
    "--keep-names",
    ...BUNDLE_EXTERNAL.flatMap((p) => ["--external", p]),
    "--outdir",
    outDir,
    "main.ts",
  ];
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Bundles the daemon into `outDir` (emptied first) and copies its run-time files beside it;
 * builds the dashboard first if it was not built. Returns the path of the bundle's main.js.
 */
export async function bundleDaemon(outDir: string): Promise<string> {
  if (!await exists(`${DASHBOARD_DIST}/index.html`)) await buildDashboard();
  await Deno.remove(outDir, { recursive: true }).catch(() => {});
  await Deno.mkdir(outDir, { recursive: true });
  const out = await new Deno.Command(Deno.execPath(), {
    args: bundleArgs(outDir),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `deno bundle failed (exit ${out.code}): ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  // Chunks are written flat into outDir: `new URL("./api.proto", import.meta.url)` in the
  // schema loader and `new URL("dist/", …)` in the dashboard resolve to these.
  await Deno.copyFile(`${ROOT}cri/api.proto`, `${outDir}/api.proto`);
  await copyDir(DASHBOARD_DIST, `${outDir}/dist`);
  return `${outDir}/main.js`;
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      outdir: { type: "string", default: "dist/bundle" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log("usage: deno run --allow-all scripts/bundle.ts [--outdir dist/bundle]");
    Deno.exit(0);
  }
  const outDir = values.outdir!.startsWith("/") ? values.outdir! : `${ROOT}${values.outdir}`;
  console.log(await bundleDaemon(outDir));
}
