/// <reference lib="dom" />
/**
 * The page's client of /api/v1: the bearer token on every call, problem documents
 * (RFC 9457) as ApiError, and streamed bodies (logs, Server-Sent Events) read as they come.
 */
import { showLogin } from "./login.ts";
import { state } from "./state.ts";
import type { Problem } from "./types.ts";

export class ApiError extends Error {
  constructor(readonly problem: Partial<Problem>) {
    super(problem.detail || problem.title || "request failed");
  }
}

/** Thrown after a 401 (the login form is shown): not worth a toast. */
export function isUnauthorized(err: unknown): boolean {
  return err instanceof ApiError && err.message === "unauthorized";
}

export async function api(path: string, opts: RequestInit = {}): Promise<Response> {
  const res = await fetch("/api/v1" + path, {
    ...opts,
    headers: { authorization: "Bearer " + state.token, ...opts.headers },
  });
  if (res.status === 401) {
    showLogin("That token was not accepted.");
    throw new ApiError({ detail: "unauthorized" });
  }
  if (!res.ok) {
    let problem: Partial<Problem>;
    try {
      problem = await res.json();
    } catch {
      problem = { status: res.status, detail: res.statusText };
    }
    throw new ApiError(problem);
  }
  return res;
}

export async function getJson<T>(path: string): Promise<T> {
  return await (await api(path)).json() as T;
}

/** Reads a streamed response body, calling onText with each decoded chunk. */
export async function readStream(
  res: Response,
  onText: (text: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  const stop = () => {
    reader.cancel().catch(() => {});
  };
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      onText(dec.decode(r.value, { stream: true }));
    }
  } catch (err) {
    if (!signal?.aborted) throw err;
  } finally {
    signal?.removeEventListener("abort", stop);
    // Chromium counts a body whose reader is never released as an aborted request.
    reader.releaseLock();
  }
}

/** Server-Sent Events over fetch (EventSource cannot send the Authorization header). */
export async function readSse(
  res: Response,
  onEvent: (event: string, data: unknown) => void,
  signal?: AbortSignal,
): Promise<void> {
  let buf = "";
  await readStream(res, (text) => {
    buf += text;
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) onEvent(event, JSON.parse(data));
    }
  }, signal);
}
