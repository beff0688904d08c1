/**
 * The admin HTTP server (Hono): health, readiness, version and Prometheus metrics, the
 * REST API under /api/v1 (a second front door onto the same CRI handlers), WebSocket
 * exec/attach/port-forward, and the dashboard. Everything under /api needs the bearer
 * token; the dashboard's static files do not (they hold no data; the page asks for the
 * token and sends it with each API call).
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Logger } from "../core/log.ts";
import { RUNTIME_API_VERSION, RUNTIME_NAME, SKIFF_VERSION } from "../core/version.ts";
import type { CriHandlers } from "../cri/handler.ts";
import { createApi, type PullProgressSource } from "./api.ts";
import type { AuditSink } from "./audit.ts";
import { dashboardRoutes } from "./dashboard/serve.ts";
import { LocalCri } from "./local_cri.ts";
import { problem, problemResponse } from "./problem.ts";

export interface AdminDeps {
  metrics: MetricsRegistry;
  /** The bearer token operators present. */
  token: string;
  metricsRequireToken: boolean;
  /** Whether the CRI server is serving (readiness). */
  ready: () => { ready: boolean; checks: Record<string, { ok: boolean; message: string }> };
  /** The CRI handlers map the gRPC server routes to; read at each call. */
  handlers?: CriHandlers;
  /** Origins allowed by CORS; empty or absent = no CORS headers at all. */
  corsOrigins?: string[];
  /** Where exec/attach/port-forward are recorded. */
  audit?: AuditSink;
  /** Largest request body accepted under /api (bytes). */
  maxBodyBytes?: number;
  pullProgress?: PullProgressSource;
  log?: Logger;
}

/** Kubernetes' way to carry a bearer token where a browser cannot set headers (WebSocket). */
export const WS_TOKEN_PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io.";

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

function base64UrlDecode(s: string): string | null {
  try {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    return new TextDecoder().decode(
      Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return null;
  }
}

/** The token offered as a WebSocket subprotocol, if any. */
export function tokenFromWsProtocols(header: string | undefined): string | null {
  for (const p of (header ?? "").split(",").map((s) => s.trim())) {
    if (p.startsWith(WS_TOKEN_PROTOCOL_PREFIX)) {
      return base64UrlDecode(p.slice(WS_TOKEN_PROTOCOL_PREFIX.length));
    }
  }
  return null;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  const requireToken = (path: string) =>
    path.startsWith("/api/") || path === "/api" ||
    (path === "/metrics" && deps.metricsRequireToken);

  app.onError((err) => {
    deps.log?.error("admin request failed", { error: err });
    return problemResponse(problem(500, "INTERNAL", "internal error; see Skiff's log"));
  });

  if (deps.corsOrigins && deps.corsOrigins.length > 0) {
    app.use(
      "/api/*",
      cors({
        origin: deps.corsOrigins,
        allowHeaders: ["Authorization", "Content-Type"],
        allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
        maxAge: 600,
      }),
    );
  }

  // Admin requests by route pattern (never the raw path: IDs would explode the series).
  const requests = deps.metrics.counter(
    "skiff_admin_requests_total",
    "Admin API requests by method, route and HTTP status.",
  );
  const latency = deps.metrics.histogram(
    "skiff_admin_request_duration_seconds",
    "Admin API time to response headers by method and route.",
  );
  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || "unmatched";
    requests.inc({ method: c.req.method, route, status: String(c.res.status) });
    latency.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
  });

  app.use("*", async (c, next) => {
    // CORS preflights carry no credentials; the cors middleware (when configured) answered.
    if (requireToken(c.req.path) && c.req.method !== "OPTIONS") {
      const wsToken = tokenFromWsProtocols(c.req.header("sec-websocket-protocol"));
      const ok = hasValidToken(c.req.header("authorization"), deps.token) ||
        (wsToken !== null && constantTimeEqual(wsToken, deps.token));
      if (!ok) {
        return problemResponse(
          problem(
            401,
            "UNAUTHENTICATED",
            "a valid bearer token is required (see admin.token_file in the config)",
          ),
          { "www-authenticate": 'Bearer realm="skiff"' },
        );
      }
    }
    await next();
  });

  app.use(
    "/api/*",
    bodyLimit({
      maxSize: deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      onError: () =>
        problemResponse(
          problem(
            413,
            "RESOURCE_EXHAUSTED",
            `request body larger than ${deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES} bytes`,
          ),
        ),
    }),
  );

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

  const cri = new LocalCri(deps.handlers ?? {});
  app.route(
    "/api/v1",
    createApi({ cri, audit: deps.audit, pullProgress: deps.pullProgress, log: deps.log }),
  );
  app.route("/", dashboardRoutes());
  return app;
}
