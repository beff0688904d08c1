import assert from "node:assert/strict";
import { Semaphore } from "./semaphore.ts";

Deno.test("Semaphore: never more than `limit` holders, the rest run in FIFO order", async () => {
  const sem = new Semaphore(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  const runs = gates.map((g, i) =>
    sem.run(async () => {
      order.push(i);
      running++;
      peak = Math.max(peak, running);
      await g.promise;
      running--;
      return i;
    })
  );
  await Promise.resolve();
  assert.deepEqual(sem.stats, { held: 2, waiting: 3 });
  for (const g of gates) {
    g.resolve();
    await new Promise((r) => setTimeout(r, 0));
  }
  assert.deepEqual(await Promise.all(runs), [0, 1, 2, 3, 4]);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(peak, 2);
  assert.deepEqual(sem.stats, { held: 0, waiting: 0 });
});

Deno.test("Semaphore: an aborted waiter gives its place up and rejects with the reason", async () => {
  const sem = new Semaphore(1);
  const gate = Promise.withResolvers<void>();
  const first = sem.run(() => gate.promise);
  const ac = new AbortController();
  const waiting = sem.run(async () => "never", ac.signal);
  const third = sem.run(async () => "third");
  ac.abort(new Error("client went away"));
  await assert.rejects(waiting, /client went away/);
  assert.deepEqual(sem.stats, { held: 1, waiting: 1 });
  gate.resolve();
  await first;
  assert.equal(await third, "third");
  assert.deepEqual(sem.stats, { held: 0, waiting: 0 });
  await assert.rejects(sem.run(async () => 1, ac.signal), /client went away/);
  assert.throws(() => new Semaphore(0), RangeError);
});
