/**
 * Streamed HTTP bodies for the admin API: a producer writes text, the HTTP client reads at
 * its own pace (a write waits until the previous chunk was taken), and a client that goes
 * away aborts the producer. Server-Sent Events are built on it.
 */
import type { Context } from "hono";
import { errorMessage } from "../core/errors.ts";
import { problemFromError } from "./problem.ts";

export type Write = (text: string) => Promise<void>;

/**
 * A signal that aborts when the HTTP client disconnects before the response is delivered.
 * Under the admin listener (AdminEnv) and Deno.serve (its handler info) it comes from the
 * `completed` promise, because under Deno.serve touching
 * `request.signal` there opts into a legacy mode that also aborts after every successful
 * response (and prints a warning into Skiff's log). Elsewhere (app.request() in tests)
 * the request's own signal is the only one there is.
 */
export function clientGone(c: Context): AbortSignal {
  const info = c.env as { completed?: Promise<void> } | undefined;
  if (info?.completed instanceof Promise) {
    const ac = new AbortController();
    info.completed.catch(() => ac.abort(new Error("the HTTP client went away")));
    return ac.signal;
  }
  return c.req.raw.signal;
}

export function streamedResponse(
  /** Aborts when the HTTP client goes away. */
  clientGone: AbortSignal,
  headers: Record<string, string>,
  produce: (write: Write, signal: AbortSignal) => Promise<void>,
  onError: (err: unknown, write: Write) => Promise<void> = async () => {},
): Response {
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("the HTTP client went away"));
  clientGone.addEventListener("abort", stop, { once: true });
  const encoder = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  writer.closed.catch(stop);
  const write: Write = async (text) => {
    if (controller.signal.aborted) throw controller.signal.reason;
    await writer.write(encoder.encode(text));
  };
  (async () => {
    try {
      await produce(write, controller.signal);
    } catch (err) {
      if (!controller.signal.aborted) await onError(err, write).catch(() => {});
    } finally {
      clientGone.removeEventListener("abort", stop);
      await writer.close().catch(() => {});
      controller.abort(new Error("stream finished"));
    }
  })();
  return new Response(readable, {
    status: 200,
    headers: { "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers },
  });
}

export interface SseSink {
  send(event: string, data: unknown): Promise<void>;
  signal: AbortSignal;
}

/**
 * Server-Sent Events. An error after the stream started becomes an `error` event holding a
 * problem document (status and CRI code), since the HTTP status was already sent. A comment
 * line every 15 s keeps idle connections (and proxies) alive and notices gone clients.
 */
export function sseResponse(
  clientGone: AbortSignal,
  produce: (sink: SseSink) => Promise<void>,
  keepAliveMs = 15_000,
): Response {
  return streamedResponse(
    clientGone,
    { "content-type": "text/event-stream; charset=utf-8", "x-accel-buffering": "no" },
    async (write, signal) => {
      const timer = setInterval(() => write(": keep-alive\n\n").catch(() => {}), keepAliveMs);
      try {
        await write(": stream open\n\n");
        await produce({
          signal,
          send: (event, data) =>
            write(`event: ${event}\ndata: ${JSON.stringify(data).replace(/\n/g, "\\n")}\n\n`),
        });
      } finally {
        clearInterval(timer);
      }
    },
    async (err, write) => {
      await write(`event: error\ndata: ${JSON.stringify(problemFromError(err))}\n\n`);
    },
  );
}

/** For a plain-text stream: a failure after the first byte can only be told in-band. */
export function textErrorTrailer(err: unknown): string {
  return `\n[skiff: stream ended with an error: ${errorMessage(err)}]\n`;
}
