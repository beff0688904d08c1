/**
 * The container event bus: the runtime publishes lifecycle events (created, started,
 * stopped, deleted) and every subscriber (GetContainerEvents streams, the admin API,
 * metrics) receives all of them, in publish order.
 *
 * Publishing never waits: each subscriber has a bounded queue, and a subscriber whose
 * queue is full is dropped (its iteration ends with `SubscriberDroppedError`) rather than
 * slowing the runtime or growing memory without bound. kubelet reconnects and relists.
 */
import type { ContainerEvent, ContainerEventSink, EventPublisher } from "./contracts.ts";

export const DEFAULT_SUBSCRIBER_BUFFER = 1024;

/** Ends the iteration of a subscriber that fell `buffer` events behind. */
export class SubscriberDroppedError extends Error {
  constructor(readonly buffer: number) {
    super(
      `event subscriber fell ${buffer} events behind and was dropped; ` +
        `subscribe again and relist to resynchronise`,
    );
    this.name = "SubscriberDroppedError";
  }
}

export interface Subscription<T> extends AsyncIterable<T> {
  /** The next event; null once closed. Throws SubscriberDroppedError if dropped. */
  next(): Promise<T | null>;
  /** Unsubscribes; pending and future `next()` calls return null. Idempotent. */
  close(): void;
  readonly closed: boolean;
  readonly dropped: boolean;
  /** Events queued and not yet taken. */
  readonly pending: number;
}

class Subscriber<T> implements Subscription<T> {
  private queue: T[] = [];
  private head = 0;
  private waiter: ((v: void) => void) | null = null;
  closed = false;
  dropped = false;

  constructor(readonly buffer: number, private readonly detach: (s: Subscriber<T>) => void) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  /** Called by the bus; false when this subscriber had to be dropped. */
  offer(event: T): boolean {
    if (this.closed) return true;
    if (this.pending >= this.buffer) {
      this.dropped = true;
      this.finish();
      return false;
    }
    this.queue.push(event);
    this.wake();
    return true;
  }

  async next(): Promise<T | null> {
    while (true) {
      if (this.pending > 0) {
        const e = this.queue[this.head++];
        // Compact now and then instead of shifting on every take.
        if (this.head > 64 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
        return e;
      }
      if (this.dropped) throw new SubscriberDroppedError(this.buffer);
      if (this.closed) return null;
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  close(): void {
    if (this.closed) return;
    this.queue = [];
    this.head = 0;
    this.finish();
  }

  private finish(): void {
    this.closed = true;
    if (this.dropped) {
      this.queue = [];
      this.head = 0;
    }
    this.detach(this);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    try {
      while (true) {
        const e = await this.next();
        if (e === null) return;
        yield e;
      }
    } finally {
      this.close();
    }
  }
}

export interface EventBusOptions {
  /** Queue length per subscriber before it is dropped. */
  subscriberBuffer?: number;
  /** Told when a slow subscriber is dropped (for logs and metrics). */
  onDrop?: (buffer: number) => void;
}

export class EventBus<T> implements EventPublisher<T> {
  private readonly subscribers = new Set<Subscriber<T>>();
  private readonly buffer: number;
  private published = 0;
  private droppedCount = 0;

  constructor(private readonly opts: EventBusOptions = {}) {
    this.buffer = opts.subscriberBuffer ?? DEFAULT_SUBSCRIBER_BUFFER;
    if (!(this.buffer >= 1)) throw new RangeError("subscriberBuffer must be at least 1");
  }

  /** Delivers to every current subscriber; never blocks, never throws. */
  publish(event: T): void {
    this.published++;
    // Copy: a drop detaches the subscriber from the set while we iterate.
    for (const s of [...this.subscribers]) {
      if (!s.offer(event)) {
        this.droppedCount++;
        try {
          this.opts.onDrop?.(s.buffer);
        } catch {
          // an observer's failure must not reach the publisher
        }
      }
    }
  }

  /** Receives every event published from now on. */
  subscribe(opts: { buffer?: number } = {}): Subscription<T> {
    const s = new Subscriber<T>(opts.buffer ?? this.buffer, (x) => this.subscribers.delete(x));
    this.subscribers.add(s);
    return s;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  get stats(): { published: number; dropped: number; subscribers: number } {
    return {
      published: this.published,
      dropped: this.droppedCount,
      subscribers: this.subscribers.size,
    };
  }

  /** Closes every subscription (shutdown). */
  closeAll(): void {
    for (const s of [...this.subscribers]) s.close();
  }
}

/** The bus of container lifecycle events; the runtime sees it as a `ContainerEventSink`. */
export class ContainerEventBus extends EventBus<ContainerEvent> implements ContainerEventSink {}
