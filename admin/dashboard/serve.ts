/**
 * Serves the dashboard built into dist/ (build.ts). The page holds no data, so it needs no
 * token; a strict CSP keeps it to its own origin. Files are read on first request and then
 * kept: an idle daemon holds none of them.
 */
import { Hono } from "hono";
import { DASHBOARD_FILES, DIST_DIR } from "./files.ts";

const SECURITY_HEADERS = {
  // xterm.js sets inline styles and injects a <style> element for its theme.
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

const NOT_BUILT = "the dashboard is not built: run scripts/setup deps " +
  "(or deno task build:dashboard)\n";

export function dashboardRoutes(dir: URL = DIST_DIR): Hono {
  const app = new Hono();
  const cache = new Map<string, Uint8Array<ArrayBuffer>>();
  const asset = async (name: string): Promise<Response> => {
    const type = Object.hasOwn(DASHBOARD_FILES, name) ? DASHBOARD_FILES[name] : undefined;
    if (!type) return new Response("not found\n", { status: 404 });
    let body = cache.get(name);
    if (!body) {
      try {
        body = await Deno.readFile(new URL(name, dir));
      } catch {
        return new Response(NOT_BUILT, { status: 503 });
      }
      cache.set(name, body);
    }
    return new Response(body, { headers: { "content-type": type, ...SECURITY_HEADERS } });
  };
  app.get("/", () => asset("index.html"));
  app.get("/dashboard", () => asset("index.html"));
  app.get("/assets/:name", (c) => asset(c.req.param("name")));
  return app;
}
