/**
 * POST /images/pull: a plain JSON answer when done, or (Accept: text/event-stream, or
 * ?stream=1) Server-Sent Events: status every second, per-layer progress when the image
 * service reports it, then done (or an error event).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Image } from "../../cri/types.ts";
import type { LocalCri } from "../local_cri.ts";
import { clientGone, sseResponse, type SseSink } from "../stream.ts";
import type { ApiDeps } from "./deps.ts";
import { boolParam, jsonBody } from "./params.ts";

/** Per-layer progress of a pull, if the image service reports it. */
export interface PullProgressEvent {
  /** Layer (or config/manifest) digest. */
  digest: string;
  /** e.g. "waiting", "downloading", "verifying", "extracting", "done". */
  phase: string;
  bytesDone: number;
  /** 0 when unknown. */
  bytesTotal: number;
}

/**
 * Optional hook into the image service: progress of in-flight pulls of a reference. Without
 * it, pull streams carry status events (started, still pulling + elapsed, done or error).
 */
export interface PullProgressSource {
  watch(image: string, onEvent: (e: PullProgressEvent) => void): () => void;
}

interface PullRequest {
  image: string;
  auth: Record<string, string> | null;
}

async function pullRequest(c: Context): Promise<PullRequest> {
  const body = await jsonBody<{ image?: unknown; auth?: Record<string, string> }>(c);
  if (typeof body.image !== "string" || body.image.trim() === "") {
    throw new InvalidArgumentError('"image" must be an image reference, e.g. "busybox:latest"');
  }
  const auth = body.auth && typeof body.auth === "object" ? body.auth : null;
  return { image: body.image.trim(), auth };
}

/** The event stream of one pull: status ticks and progress until done. */
async function streamPull(
  { cri, pullProgress }: ApiDeps,
  { image, auth }: PullRequest,
  { send, signal }: SseSink,
): Promise<void> {
  const started = Date.now();
  await send("status", { image, phase: "pulling", elapsed_ms: 0 });
  let unwatch = pullProgress?.watch(image, (e) => {
    send("progress", { image, ...e }).catch(() => {});
  });
  const tick = setInterval(() => {
    send("status", { image, phase: "pulling", elapsed_ms: Date.now() - started })
      .catch(() => {});
  }, 1000);
  const stopWatching = () => {
    clearInterval(tick);
    unwatch?.();
    unwatch = undefined;
  };
  try {
    const res = await cri.call("PullImage", { image: { image }, auth }, signal);
    stopWatching(); // no progress event after `done`
    const info = await imageInfo(cri, res.image_ref);
    await send("done", {
      image,
      image_ref: res.image_ref,
      elapsed_ms: Date.now() - started,
      size_bytes: info ? Number(info.size) : null,
    });
  } finally {
    stopWatching();
  }
}

async function imageInfo(cri: LocalCri, ref: string): Promise<Image | null> {
  if (!cri.has("ImageStatus")) return null;
  return (await cri.call("ImageStatus", { image: { image: ref } })).image ?? null;
}

export function pullRoutes(deps: ApiDeps): Hono {
  const { cri } = deps;
  const app = new Hono();

  app.post("/images/pull", async (c) => {
    const req = await pullRequest(c);
    const wantsStream = (c.req.header("accept") ?? "").includes("text/event-stream") ||
      boolParam(c, "stream");
    if (!wantsStream) {
      const res = await cri.call(
        "PullImage",
        { image: { image: req.image }, auth: req.auth },
        clientGone(c),
      );
      return c.json({ image: req.image, image_ref: res.image_ref });
    }
    // A 501 problem before the stream starts.
    if (!cri.has("PullImage")) await cri.call("PullImage", { image: { image: req.image } });
    return sseResponse(clientGone(c), (sink) => streamPull(deps, req, sink));
  });

  return app;
}
