/** The event bus: ordered fan-out, slow subscribers dropped, nothing left behind. */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { ContainerEventBus, EventBus, SubscriberDroppedError } from "../../runtime/events.ts";
import type { ContainerEvent } from "../../runtime/contracts.ts";

const ev = (i: number): ContainerEvent => ({
  type: "CONTAINER_STARTED_EVENT",
  containerId: `c${i}`,
  sandboxId: "p",
  at: i,
});

Deno.test("every subscriber receives every event in publish order", async () => {
  const bus = new ContainerEventBus();
  const a = bus.subscribe();
  const b = bus.subscribe();
  for (let i = 0; i < 100; i++) bus.publish(ev(i));
  const got = async (s: typeof a) => {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await s.next())!.containerId);
    return ids;
  };
  const want = Array.from({ length: 100 }, (_, i) => `c${i}`);
  assertEquals(await got(a), want);
  assertEquals(await got(b), want);
  a.close();
  b.close();
  assertEquals(bus.subscriberCount, 0);
});

Deno.test("a waiting subscriber is woken by publish, and by close with null", async () => {
  const bus = new EventBus<number>();
  const s = bus.subscribe();
  const pending = s.next();
  bus.publish(7);
  assertEquals(await pending, 7);
  const waiting = s.next();
  s.close();
  assertEquals(await waiting, null);
  assertEquals(await s.next(), null);
  bus.publish(8); // nobody left: no error
  assertEquals(bus.subscriberCount, 0);
});

Deno.test("a slow subscriber is dropped; the publisher never waits; others go on", async () => {
  const drops: number[] = [];
  const bus = new EventBus<number>({ subscriberBuffer: 16, onDrop: (n) => drops.push(n) });
  const slow = bus.subscribe();
  const fast = bus.subscribe({ buffer: 100_000 });
  const t0 = performance.now();
  for (let i = 0; i < 50_000; i++) bus.publish(i);
  const elapsed = performance.now() - t0;
  assert(elapsed < 2000, `publishing 50k events to a stuck subscriber took ${elapsed} ms`);
  assert(slow.dropped && slow.closed);
  assertEquals(slow.pending, 0, "a dropped subscriber holds no events");
  assertEquals(drops, [16]);
  await rejects(slow.next(), SubscriberDroppedError);
  assertEquals(bus.subscriberCount, 1);
  assertEquals(fast.pending, 50_000);
  let last = -1;
  for await (const n of fast) {
    assertEquals(n, last + 1);
    last = n;
    if (n === 49_999) break;
  }
  assertEquals(bus.subscriberCount, 0, "breaking out of for-await unsubscribes");
  assertEquals(bus.stats, { published: 50_000, dropped: 1, subscribers: 0 });
});

Deno.test("a subscriber that keeps up is never dropped by a small buffer", async () => {
  const bus = new EventBus<number>({ subscriberBuffer: 2 });
  const s = bus.subscribe();
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const n of s) {
      seen.push(n);
      if (n === 199) break;
    }
  })();
  for (let i = 0; i < 200; i++) {
    bus.publish(i);
    // the runtime publishes from separate tasks (RPCs, conmon exit watches)
    await new Promise((r) => setTimeout(r, 0));
  }
  await consumer;
  assertEquals(seen.length, 200);
  assert(!s.dropped);
});

Deno.test("closeAll ends every subscription", async () => {
  const bus = new EventBus<string>();
  const subs = [bus.subscribe(), bus.subscribe(), bus.subscribe()];
  const waits = subs.map((s) => s.next());
  bus.closeAll();
  assertEquals(await Promise.all(waits), [null, null, null]);
  assertEquals(bus.subscriberCount, 0);
});
