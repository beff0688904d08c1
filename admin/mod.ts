/** Admin API: public surface of admin/. */
export {
  type AdminDeps,
  createAdminApp,
  DEFAULT_MAX_BODY_BYTES,
  hasValidToken,
  WS_TOKEN_PROTOCOL_PREFIX,
} from "./app.ts";
export type { PullProgressEvent, PullProgressSource } from "./routes/pulls.ts";
export { type AuditEntry, type AuditSink, FileAuditLog } from "./audit.ts";
export { LocalCri } from "./local_cri.ts";
export { type ActivePulls, pullProgressFrom } from "./pull_progress.ts";
export { loadOrCreateToken } from "./token.ts";
export { type AdminEnv, AdminHttpServer } from "./http_server.ts";
