/**
 * Abort signals that follow other signals, with strong links.
 *
 * Why not `AbortSignal.any`: the signal it returns is referenced only weakly by its
 * sources. Once nothing else holds it — `fetch` lets go of its signal after the response
 * headers — a garbage collection drops the link, and an abort of a source (the no-progress
 * watchdog, a cancelled caller) never reaches the download: a stalled blob then hangs the
 * pull forever (seen with progress_timeout_seconds = 60, when a GC ran before the timer).
 * Here each source holds a listener that holds the controller, until `dispose()`.
 */

export interface LinkedAbort {
  controller: AbortController;
  signal: AbortSignal;
  /** Unlinks from the sources (call when the work is done, so long-lived sources don't grow). */
  dispose(): void;
}

/** A controller aborted (with the same reason) as soon as any of `sources` aborts. */
export function linkedAbort(...sources: AbortSignal[]): LinkedAbort {
  const controller = new AbortController();
  const unlinks: (() => void)[] = [];
  const dispose = () => {
    for (const u of unlinks.splice(0)) u();
  };
  for (const s of sources) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    const onAbort = () => {
      controller.abort(s.reason);
      dispose();
    };
    s.addEventListener("abort", onAbort, { once: true });
    unlinks.push(() => s.removeEventListener("abort", onAbort));
  }
  if (controller.signal.aborted) dispose();
  return { controller, signal: controller.signal, dispose };
}
