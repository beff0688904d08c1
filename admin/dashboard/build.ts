/**
 * Builds the dashboard for the browser into dist/ (gitignored): src/main.ts and its modules
 * (strict TypeScript) bundled with xterm.js and its fit addon (npm, pinned in deno.json)
 * into one app.js by `deno bundle` (esbuild, as pinned by the Deno version), plus
 * index.html, style.css and xterm.css. The output depends only on those inputs: building
 * twice gives the same bytes. scripts/setup runs it before anything starts or tests Skiff;
 * scripts/release.sh runs it inside the staged release.
 *
 *   deno task build:dashboard                   build into admin/dashboard/dist/
 *   deno run -A admin/dashboard/build.ts --out DIR     build elsewhere (tests)
 */
import { DASHBOARD_FILES, DIST_DIR } from "./files.ts";

const HERE = new URL("./", import.meta.url);
const ROOT = new URL("../../", import.meta.url);

/** Files copied as they are (source maps are not shipped: their references go). */
const COPIED: Record<string, URL> = {
  "index.html": new URL("src/index.html", HERE),
  "style.css": new URL("src/style.css", HERE),
  "xterm.css": new URL("node_modules/@xterm/xterm/css/xterm.css", ROOT),
};

function withoutSourceMap(text: string): string {
  return text.replace(/\n\/[/*]# sourceMappingURL=\S+\s*(\*\/)?\s*$/, "\n");
}

async function bundle(out: string): Promise<void> {
  const res = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--frozen",
      "--platform=browser",
      "--format=iife",
      "--output",
      out,
      "admin/dashboard/src/main.ts",
    ],
    // Relative to the repo root, so the bundle's path comments never depend on the caller.
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!res.success) throw new Error(`deno bundle failed (exit ${res.code})`);
}

/** Builds every file of DASHBOARD_FILES into `dir` (replaced as a whole, never half-built). */
export async function build(dir: URL = DIST_DIR): Promise<void> {
  const path = dir.pathname.replace(/\/$/, "");
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await bundle(`${tmp}/app.js`);
    await Deno.writeTextFile(
      `${tmp}/app.js`,
      withoutSourceMap(await Deno.readTextFile(`${tmp}/app.js`)),
    );
    for (const [name, from] of Object.entries(COPIED)) {
      await Deno.writeTextFile(`${tmp}/${name}`, withoutSourceMap(await Deno.readTextFile(from)));
    }
    for (const name of Object.keys(DASHBOARD_FILES)) await Deno.stat(`${tmp}/${name}`);
    await Deno.remove(path, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw err;
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const dir = i >= 0
    ? new URL(Deno.args[i + 1].replace(/\/?$/, "/"), `file://${Deno.cwd()}/`)
    : DIST_DIR;
  await build(dir);
  console.log(`dashboard built into ${dir.pathname}`);
}
