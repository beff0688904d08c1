/**
 * Per-layer pull progress for the admin API's pull stream, read from the image service's
 * tracker of pulls in flight (image/progress.ts, `active()` snapshots). The tracker is
 * polled only while someone watches, and only changes are reported.
 */
import { formatReference, parseReference } from "../image/mod.ts";
import type { PullProgressEvent, PullProgressSource } from "./routes/pulls.ts";

/** What the admin API needs of the image service's progress tracker. */
export interface ActivePulls {
  active(): {
    image: string;
    layers: { digest: string; total: number; done: number; complete: boolean }[];
  }[];
}

function normalized(ref: string): string {
  try {
    return formatReference(parseReference(ref));
  } catch {
    return ref;
  }
}

export function pullProgressFrom(tracker: ActivePulls, pollMs = 250): PullProgressSource {
  return {
    watch(image: string, onEvent: (e: PullProgressEvent) => void): () => void {
      const want = new Set([image, normalized(image)]);
      const last = new Map<string, string>();
      const poll = () => {
        for (const pull of tracker.active()) {
          if (!want.has(pull.image) && !want.has(normalized(pull.image))) continue;
          for (const l of pull.layers) {
            const phase = l.complete ? "done" : l.done > 0 ? "downloading" : "waiting";
            const key = `${phase}:${l.done}`;
            if (last.get(l.digest) === key) continue;
            last.set(l.digest, key);
            onEvent({ digest: l.digest, phase, bytesDone: l.done, bytesTotal: l.total });
          }
        }
      };
      const timer = setInterval(poll, pollMs);
      poll();
      return () => {
        clearInterval(timer);
        poll(); // the last bytes of layers finished since the previous poll
      };
    },
  };
}
