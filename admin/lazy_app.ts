/**
 * The admin app as the daemon serves it: built at the first request. A node nobody looks
 * at never loads Hono, the routes or the WebSocket streams (measured with the streaming
 * protocols and the CLI commands made lazy too: ~2 MiB less RSS at start).
 */
import type { AdminDeps } from "./app.ts";
import type { AdminFetch } from "./http_server.ts";

export function lazyAdminApp(deps: AdminDeps): AdminFetch {
  let app: Promise<AdminFetch> | undefined;
  return async (request, env) => {
    app ??= import("./app.ts").then(({ createAdminApp }) => {
      const built = createAdminApp(deps);
      return (r, e) => built.fetch(r, e);
    });
    return (await app)(request, env);
  };
}
