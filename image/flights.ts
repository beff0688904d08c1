/**
 * De-duplicated work shared by concurrent callers (one download per blob, one unpack per
 * layer, one pull per reference). Each caller may give up alone; the shared work is aborted
 * only when every caller waiting for it has gone.
 */
import { CancelledError } from "../core/errors.ts";

interface Flight {
  promise: Promise<unknown>;
  controller: AbortController;
  waiters: number;
}

export class SharedFlights {
  private readonly flights = new Map<string, Flight>();

  get size(): number {
    return this.flights.size;
  }

  has(key: string): boolean {
    return this.flights.has(key);
  }

  run<T>(key: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(new CancelledError(`${key}: cancelled`));
    let f = this.flights.get(key);
    if (!f) {
      const controller = new AbortController();
      const promise = work(controller.signal).finally(() => this.flights.delete(key));
      promise.catch(() => {});
      f = { promise, controller, waiters: 0 };
      this.flights.set(key, f);
    }
    const flight = f;
    flight.waiters++;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const leave = () => {
        if (settled) return false;
        settled = true;
        signal.removeEventListener("abort", onAbort);
        if (--flight.waiters === 0) {
          flight.controller.abort(
            new CancelledError(`${key}: every caller waiting for it was cancelled`),
          );
        }
        return true;
      };
      const onAbort = () => {
        if (leave()) reject(new CancelledError(`${key}: cancelled by the caller`));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      flight.promise.then(
        (v) => leave() && resolve(v as T),
        (e) => leave() && reject(e),
      );
    });
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; fails fast on the first error. */
export async function mapLimit<I, O>(
  items: I[],
  limit: number,
  fn: (item: I, index: number) => Promise<O>,
): Promise<O[]> {
  const out: O[] = new Array(items.length);
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  });
  const results = await Promise.allSettled(workers);
  const err = results.find((r) => r.status === "rejected");
  if (err) throw (err as PromiseRejectedResult).reason;
  return out;
}
