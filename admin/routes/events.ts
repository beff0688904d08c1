/** GET /events: CRI container events as Server-Sent Events, with ISO times and the pod ID. */
import { Hono } from "hono";
import { clientGone, sseResponse } from "../stream.ts";
import type { ApiDeps } from "./deps.ts";
import { isoFromNanos } from "./views.ts";

export function eventRoutes({ cri }: ApiDeps): Hono {
  const app = new Hono();

  app.get("/events", async (c) => {
    if (!cri.has("GetContainerEvents")) {
      // Fails with the 501 problem before any byte of the stream is sent.
      await cri.stream("GetContainerEvents", {}).next();
    }
    return sseResponse(clientGone(c), async ({ send, signal }) => {
      await send("ready", { at: new Date().toISOString() });
      for await (const ev of cri.stream("GetContainerEvents", {}, signal)) {
        await send("container", {
          ...ev,
          created: isoFromNanos(ev.created_at),
          pod_sandbox_id: ev.pod_sandbox_status?.id ?? "",
        });
      }
    });
  });

  return app;
}
