/** Health, readiness, version and Prometheus metrics: no token (except metrics, if set so). */
import { Hono } from "hono";
import type { MetricsRegistry } from "../../core/metrics.ts";
import { RUNTIME_API_VERSION, RUNTIME_NAME, SKIFF_VERSION } from "../../core/version.ts";

export interface SystemDeps {
  metrics: MetricsRegistry;
  ready: () => { ready: boolean; checks: Record<string, { ok: boolean; message: string }> };
}

export function systemRoutes({ metrics, ready }: SystemDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.text("ok\n"));
  app.get("/readyz", (c) => {
    const r = ready();
    return c.json(r, r.ready ? 200 : 503);
  });
  app.get("/version", (c) =>
    c.json({
      name: RUNTIME_NAME,
      version: SKIFF_VERSION,
      runtime_api_version: RUNTIME_API_VERSION,
      deno: Deno.version.deno,
    }));
  app.get("/metrics", (c) =>
    c.body(metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));
  return app;
}
