/**
 * The dashboard's build (admin/dashboard/build.ts): deterministic, up to date with its
 * sources in dist/ (what Skiff serves; scripts/setup builds it), self-contained (the page
 * asks only for files the build makes; no source maps, no globals from CDN-era scripts),
 * and served with its content types and security headers.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { build } from "../../admin/dashboard/build.ts";
import { DASHBOARD_FILES, DIST_DIR } from "../../admin/dashboard/files.ts";
import { dashboardRoutes } from "../../admin/dashboard/serve.ts";

async function readAll(dir: URL): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    out[e.name] = await Deno.readTextFile(new URL(e.name, dir));
  }
  return out;
}

async function buildInto(): Promise<{ dir: URL; files: Record<string, string> }> {
  const dir = new URL(`file://${await Deno.makeTempDir({ prefix: "skiff-dash-" })}/out/`);
  await build(dir);
  return { dir, files: await readAll(dir) };
}

Deno.test("dashboard build: deterministic, and dist/ is what the sources build today", async () => {
  const a = await buildInto();
  const b = await buildInto();
  try {
    assertEquals(Object.keys(a.files).sort(), Object.keys(DASHBOARD_FILES).sort());
    assert(Object.keys(a.files).every((n) => a.files[n] === b.files[n]), "two builds differ");
    const dist = await readAll(DIST_DIR).catch(() => null);
    assert(dist !== null, "admin/dashboard/dist/ is missing: run deno task build:dashboard");
    for (const name of Object.keys(DASHBOARD_FILES)) {
      assert(dist[name] === a.files[name], `dist/${name} is stale: run deno task build:dashboard`);
    }
  } finally {
    for (const d of [a.dir, b.dir]) {
      await Deno.remove(new URL("../", d), { recursive: true }).catch(() => {});
    }
  }
});

Deno.test("dashboard build: the page asks only for built files; xterm is bundled", async () => {
  const { dir, files } = await buildInto();
  try {
    const asked = [...files["index.html"].matchAll(/(?:href|src)="\/assets\/([^"]+)"/g)]
      .map((m) => m[1]);
    assertEquals(asked.sort(), ["app.js", "style.css", "xterm.css"]);
    const app = files["app.js"];
    assert(!/sourceMappingURL/.test(app), "app.js must not point at a source map");
    assert(!/globalThis\.(Terminal|FitAddon)/.test(app), "xterm must come from the bundle");
    assertStringIncludes(app, "node_modules/@xterm/xterm/");
    assertStringIncludes(app, "node_modules/@xterm/addon-fit/");
    // Type-only imports of the API's views are erased: no server code in the page.
    assert(!/from "hono"|Deno\.readFile/.test(app), "server code leaked into the bundle");
    assert(!/sourceMappingURL/.test(files["xterm.css"]));
  } finally {
    await Deno.remove(new URL("../", dir), { recursive: true }).catch(() => {});
  }
});

Deno.test("dashboard serve: built files with types and CSP; 404 unknown; 503 unbuilt", async () => {
  const { dir, files } = await buildInto();
  const empty = await Deno.makeTempDir({ prefix: "skiff-dash-empty-" });
  try {
    const app = dashboardRoutes(dir);
    for (
      const [path, name] of [["/", "index.html"], ["/dashboard", "index.html"], [
        "/assets/app.js",
        "app.js",
      ], ["/assets/xterm.css", "xterm.css"]]
    ) {
      const res = await app.request(path);
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("content-type"), DASHBOARD_FILES[name]);
      assertStringIncludes(res.headers.get("content-security-policy") ?? "", "default-src 'self'");
      assertEquals(await res.text(), files[name]);
    }
    const unknown = await app.request("/assets/build.ts");
    assertEquals(unknown.status, 404);
    await unknown.body?.cancel();
    const unbuilt = await dashboardRoutes(new URL(`file://${empty}/`)).request("/");
    assertEquals(unbuilt.status, 503);
    assertStringIncludes(await unbuilt.text(), "build:dashboard");
  } finally {
    await Deno.remove(new URL("../", dir), { recursive: true }).catch(() => {});
    await Deno.remove(empty, { recursive: true }).catch(() => {});
  }
});
