/** Admin API: public surface of admin/. */
export { type AdminDeps, createAdminApp, hasValidToken } from "./app.ts";
export { loadOrCreateToken } from "./token.ts";
