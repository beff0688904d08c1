import assert from "node:assert/strict";
import { KeyedLock } from "./keyed_lock.ts";

Deno.test("KeyedLock runs one key's operations in order, other keys alongside", async () => {
  const lock = new KeyedLock();
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const a1 = lock.run("a", async () => {
    await gate;
    order.push("a1");
  });
  const a2 = lock.run("a", async () => {
    order.push("a2");
  });
  await lock.run("b", async () => {
    order.push("b");
  });
  release();
  await Promise.all([a1, a2]);
  assert.deepEqual(order, ["b", "a1", "a2"]);
  assert.deepEqual(lock.size, 0);
});

Deno.test("KeyedLock: a failed operation does not block the next on its key", async () => {
  const lock = new KeyedLock();
  await assert.rejects(lock.run("a", () => Promise.reject(new Error("boom"))), /boom/);
  assert.deepEqual(await lock.run("a", () => Promise.resolve(7)), 7);
  assert.deepEqual(lock.size, 0);
});
