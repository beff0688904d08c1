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

  /** Resolves once the work under `key` (if any) has settled, success or not. */
  async settled(key: string): Promise<void> {
    await this.flights.get(key)?.promise.catch(() => {});
  }

  /** Whether the work under `key` still has callers waiting for it. */
  waiters(key: string): number {
    return this.flights.get(key)?.waiters ?? 0;
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
  // The first failure in time is the cause; later ones are usually its consequences.
  let firstError: { error: unknown } | undefined;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!firstError && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (e) {
        firstError ??= { error: e };
        return;
      }
    }
  });
  await Promise.all(workers);
  if (firstError) throw firstError.error;
  return out;
}
