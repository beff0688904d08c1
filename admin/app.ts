/**
 * The admin HTTP API (Hono). This is its skeleton: health, readiness, version and
 * Prometheus metrics. Everything under /api needs the bearer token.
 */
import { Hono } from "hono";
import type { MetricsRegistry } from "../core/metrics.ts";
import { RUNTIME_API_VERSION, RUNTIME_NAME, SKIFF_VERSION } from "../core/version.ts";

export interface AdminDeps {
  metrics: MetricsRegistry;
  /** The bearer token operators present. */
  token: string;
  metricsRequireToken: boolean;
  /** Whether the CRI server is serving (readiness). */
  ready: () => { ready: boolean; checks: Record<string, { ok: boolean; message: string }> };
}

function constantTimeEqual(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}

export function hasValidToken(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return !!m && constantTimeEqual(m[1], token);
}

export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  const requireToken = (path: string) =>
    path.startsWith("/api/") || (path === "/metrics" && deps.metricsRequireToken);

  app.use("*", async (c, next) => {
    if (requireToken(c.req.path) && !hasValidToken(c.req.header("authorization"), deps.token)) {
      return c.json(
        {
          type: "about:blank",
          title: "Unauthorized",
          status: 401,
          code: "UNAUTHENTICATED",
          detail: "a valid bearer token is required (see admin.token_file in the config)",
        },
        401,
        { "www-authenticate": 'Bearer realm="skiff"' },
      );
    }
    await next();
  });

  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    const r = deps.ready();
    return c.json(r, r.ready ? 200 : 503);
  });
  app.get("/version", (c) =>
    c.json({
      name: RUNTIME_NAME,
      version: SKIFF_VERSION,
      runtime_api_version: RUNTIME_API_VERSION,
      deno: Deno.version.deno,
    }));
  app.get(
    "/metrics",
    (c) =>
      c.body(deps.metrics.render(), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      }),
  );
  return app;
}
