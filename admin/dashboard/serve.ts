/**
 * Serves the dashboard from the assets bundled into Skiff (assets.gen.ts). The page holds
 * no data, so it needs no token; a strict CSP keeps it to its own origin.
 */
import { Hono } from "hono";
import { DASHBOARD_ASSETS } from "./assets.gen.ts";

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

export function dashboardRoutes(): Hono {
  const app = new Hono();
  const asset = (name: string) => {
    const a = DASHBOARD_ASSETS[name];
    if (!a) return new Response("not found\n", { status: 404 });
    return new Response(a.body, { headers: { "content-type": a.type, ...SECURITY_HEADERS } });
  };
  app.get("/", () => asset("index.html"));
  app.get("/dashboard", () => asset("index.html"));
  app.get("/assets/:name", (c) => asset(c.req.param("name")));
  return app;
}
