/**
 * Admin API: public surface of admin/. The app itself (app.ts: Hono, routes, dashboard) is
 * loaded at the first request (lazy_app.ts); tests that build one import app.ts directly.
 */
export type { AdminDeps } from "./app.ts";
export { hasValidToken, WS_TOKEN_PROTOCOL_PREFIX } from "./auth.ts";
export { lazyAdminApp } from "./lazy_app.ts";
export type { PullProgressEvent, PullProgressSource } from "./routes/pulls.ts";
export { type AuditEntry, type AuditSink, FileAuditLog } from "./audit.ts";
export { type ActivePulls, pullProgressFrom } from "./pull_progress.ts";
export { loadOrCreateToken } from "./token.ts";
export { type AdminEnv, AdminHttpServer } from "./http_server.ts";
