/** GET /api/v1: the routes this API serves, for people exploring it with curl. */
import { Hono } from "hono";

export const API_ROUTES = [
  "GET /api/v1/node",
  "GET /api/v1/node/stats",
  "GET /api/v1/pods?state=&label=k=v&id=",
  "GET|DELETE /api/v1/pods/:id",
  "POST /api/v1/pods/:id/stop",
  "GET /api/v1/containers?state=&pod=&label=k=v&id=&name=",
  "GET|DELETE /api/v1/containers/:id (DELETE ?force=1 stops first)",
  "POST /api/v1/containers/:id/stop?timeout=",
  "GET /api/v1/containers/:id/logs?tail=&since=&follow=1&timestamps=1&format=json",
  "GET /api/v1/containers/:id/stats",
  "POST /api/v1/containers/:id/exec_sync {cmd, timeout_seconds}",
  "GET (WebSocket) /api/v1/containers/:id/exec?command=…&tty=1&stdin=1",
  "GET (WebSocket) /api/v1/containers/:id/attach?tty=1&stdin=1",
  "GET (WebSocket) /api/v1/pods/:id/portforward?ports=80",
  "GET /api/v1/images?name=",
  "GET|DELETE /api/v1/images/:ref",
  "POST /api/v1/images/pull {image, auth} (Accept: text/event-stream for progress)",
  "GET /api/v1/events (text/event-stream)",
];

export function catalogRoutes(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.json({ routes: API_ROUTES }));
  return app;
}
