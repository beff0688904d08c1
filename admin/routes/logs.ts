/** A container's log: tail, since, follow (across rotations), as text or NDJSON. */
import { Hono } from "hono";
import type { Context } from "hono";
import { InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import { type CriLogEntry, followLog, formatEntry, parseSince, readLog } from "../logs.ts";
import { problemFromError } from "../problem.ts";
import { clientGone, streamedResponse, textErrorTrailer } from "../stream.ts";
import { type ApiDeps, containerStatusOf } from "./deps.ts";
import { boolParam, intParam } from "./params.ts";

/** `?since=` as epoch milliseconds; undefined when absent. */
function sinceParam(c: Context): number | undefined {
  const raw = c.req.query("since");
  if (!raw) return undefined;
  const t = parseSince(raw);
  if (t === null) {
    throw new InvalidArgumentError(
      `since ${JSON.stringify(raw)}: expected an RFC 3339 time or a duration like 5m`,
    );
  }
  return t;
}

export function logRoutes({ cri }: ApiDeps): Hono {
  const app = new Hono();

  app.get("/containers/:id/logs", async (c) => {
    const id = c.req.param("id");
    const tail = intParam(c, "tail");
    const sinceMs = sinceParam(c);
    const follow = boolParam(c, "follow");
    const timestamps = boolParam(c, "timestamps");
    const json = c.req.query("format") === "json";
    const status = await containerStatusOf(cri, id, clientGone(c));
    if (!status.log_path) {
      throw new NotFoundError(
        `container ${id} has no log file (it was created without a log path)`,
      );
    }
    const path = status.log_path;
    const render = (e: CriLogEntry) => json ? JSON.stringify(e) + "\n" : formatEntry(e, timestamps);
    return streamedResponse(
      clientGone(c),
      { "content-type": json ? "application/x-ndjson" : "text/plain; charset=utf-8" },
      async (write, signal) => {
        const first = await readLog(path, { tail, sinceMs });
        for (const e of first.entries) await write(render(e));
        if (!follow) return;
        const opts = { offset: first.offset, ino: first.ino, signal, sinceMs };
        for await (const e of followLog(path, opts)) await write(render(e));
      },
      async (err, write) => {
        await write(
          json ? JSON.stringify({ error: problemFromError(err) }) + "\n" : textErrorTrailer(err),
        );
      },
    );
  });

  return app;
}
