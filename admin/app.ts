/**
 * The admin HTTP server (Hono): health, readiness, version and Prometheus metrics, the
 * REST API under /api/v1 (a second front door onto the same CRI handlers), WebSocket
 * exec/attach/port-forward, and the dashboard. Everything under /api needs the bearer
 * token; the dashboard's static files do not (they hold no data; the page asks for the
 * token and sends it with each API call).
 *
 * Each resource is a small Hono sub-app in routes/, mounted here under /api/v1; every
 * route is a thin translation onto the in-process CRI handlers (LocalCri): no state, no
 * domain logic, and a route whose handler is not built yet answers 501 naming it.
 */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import type { MetricsRegistry } from "../core/metrics.ts";
import type { Logger } from "../core/log.ts";
import type { CriHandlers } from "../cri/handler.ts";
import type { AuditSink } from "./audit.ts";
import { requireToken } from "./auth.ts";
import { dashboardRoutes } from "./dashboard/serve.ts";
import { LocalCri } from "./local_cri.ts";
import { problem, problemFromError, problemResponse } from "./problem.ts";
import { catalogRoutes } from "./routes/catalog.ts";
import { containerRoutes } from "./routes/containers.ts";
import type { ApiDeps } from "./routes/deps.ts";
import { eventRoutes } from "./routes/events.ts";
import { imageRoutes } from "./routes/images.ts";
import { logRoutes } from "./routes/logs.ts";
import { nodeRoutes } from "./routes/node.ts";
import { podRoutes } from "./routes/pods.ts";
import { type PullProgressSource, pullRoutes } from "./routes/pulls.ts";
import { streamRoutes } from "./routes/streams.ts";
import { type SystemDeps, systemRoutes } from "./routes/system.ts";

export { hasValidToken, tokenFromWsProtocols, WS_TOKEN_PROTOCOL_PREFIX } from "./auth.ts";

export interface AdminDeps extends SystemDeps {
  metrics: MetricsRegistry;
  /** The bearer token operators present. */
  token: string;
  metricsRequireToken: boolean;
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

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Admin requests by route pattern (never the raw path: IDs would explode the series). */
function requestMetrics(metrics: MetricsRegistry): MiddlewareHandler {
  const requests = metrics.counter(
    "skiff_admin_requests_total",
    "Admin API requests by method, route and HTTP status.",
  );
  const latency = metrics.histogram(
    "skiff_admin_request_duration_seconds",
    "Admin API time to response headers by method and route.",
  );
  return async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || "unmatched";
    requests.inc({ method: c.req.method, route, status: String(c.res.status) });
    latency.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
  };
}

function bodySizeLimit(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () =>
      problemResponse(
        problem(413, "RESOURCE_EXHAUSTED", `request body larger than ${maxBytes} bytes`),
      ),
  });
}

/** /api/v1: one sub-app per resource; errors become problem documents (RFC 9457). */
function apiV1(deps: ApiDeps): Hono {
  const api = new Hono();
  api.onError((err) => problemResponse(problemFromError(err)));
  api.notFound((c) =>
    problemResponse({
      type: "about:blank",
      title: "Not Found",
      status: 404,
      code: "NOT_FOUND",
      detail: `no admin API route ${c.req.method} ${c.req.path}; see GET /api/v1`,
    })
  );
  api.route("/", catalogRoutes());
  api.route("/", podRoutes(deps));
  api.route("/", containerRoutes(deps));
  api.route("/", logRoutes(deps));
  api.route("/", imageRoutes(deps));
  api.route("/", pullRoutes(deps));
  api.route("/", streamRoutes(deps));
  api.route("/", eventRoutes(deps));
  api.route("/", nodeRoutes(deps));
  return api;
}

export function createAdminApp(deps: AdminDeps): Hono {
  const app = new Hono();
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
  app.use("*", requestMetrics(deps.metrics));
  app.use(
    "*",
    requireToken(
      deps.token,
      (path) =>
        path.startsWith("/api/") || path === "/api" ||
        (path === "/metrics" && deps.metricsRequireToken),
    ),
  );
  app.use("/api/*", bodySizeLimit(deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES));

  app.route("/", systemRoutes(deps));
  const cri = new LocalCri(deps.handlers ?? {});
  app.route(
    "/api/v1",
    apiV1({ cri, audit: deps.audit, pullProgress: deps.pullProgress, log: deps.log }),
  );
  app.route("/", dashboardRoutes());
  return app;
}
