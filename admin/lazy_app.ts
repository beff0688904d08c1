/**
 * The admin app as the daemon serves it: built at the first request. An idle node never
 * loads Hono, the routes, the CRI schema they use or the WebSocket streams (measured: ~6 MiB
 * less RSS at start, with the streaming protocols and the CLI made lazy too).
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
