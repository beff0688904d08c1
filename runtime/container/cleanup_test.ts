import assert from "node:assert/strict";
import { logger } from "../../core/log.ts";
import { Store } from "../../store/mod.ts";
import { CleanupQueue, type Leftovers } from "./cleanup.ts";

const DIRS = { exitDir: "/nonexistent/exits", socketDir: "/nonexistent/attach" };

function leftovers(id: string, sandboxId = "pod1"): Leftovers {
  return { id, sandboxId, bundleDir: `/x/${id}`, upperDir: `/y/${id}/upper`, removedAt: 0 };
}

/** A removal the test resolves or fails by hand, one call at a time. */
class FakeRemoval {
  readonly calls: string[] = [];
  running = 0;
  maxRunning = 0;
  private readonly pending = new Map<string, { ok: () => void; fail: (e: Error) => void }>();

  readonly remove = (_dirs: unknown, l: Leftovers): Promise<void> => {
    this.calls.push(l.id);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    return new Promise<void>((ok, fail) => this.pending.set(l.id, { ok, fail })).finally(() => {
      this.running--;
    });
  };

  /** Waits (a bounded while) until `n` removals have been called. */
  async called(n: number): Promise<void> {
    for (let i = 0; i < 100 && this.calls.length < n; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async finish(id: string, err?: Error): Promise<void> {
    for (let i = 0; i < 100 && !this.pending.has(id); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const p = this.pending.get(id);
    assert.ok(p, `no removal of ${id} running`);
    this.pending.delete(id);
    if (err) p.fail(err);
    else p.ok();
  }
}

function queue(store: Store, removal: FakeRemoval): CleanupQueue {
  return new CleanupQueue({ store, dirs: DIRS, log: logger("test"), remove: removal.remove });
}

Deno.test("cleanup queue: recorded with the container's deletion, at most two at a time", async () => {
  const store = new Store(":memory:");
  const containers = store.collection<{ id: string }>("containers");
  const removal = new FakeRemoval();
  const q = queue(store, removal);
  for (const id of ["a", "b", "c"]) {
    containers.put(id, { id });
    q.add(leftovers(id), () => containers.delete(id));
  }
  assert.equal(containers.count(), 0);
  assert.deepEqual(q.pending.list().map((l) => l.id), ["a", "b", "c"]);
  assert.equal(q.size, 3);
  assert.deepEqual(removal.calls, [], "started after the caller's turn, not within add()");
  await removal.called(2);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(removal.calls, ["a", "b"]); // the third waits for a free slot
  const drained = q.drained();
  await removal.finish("a");
  await removal.finish("b");
  await removal.finish("c");
  await drained;
  assert.equal(removal.maxRunning, 2);
  assert.equal(q.pending.count(), 0);
  assert.equal(q.size, 0);
  store.close();
});

Deno.test("cleanup queue: a failed transaction records nothing and queues nothing", () => {
  const store = new Store(":memory:");
  const removal = new FakeRemoval();
  const q = queue(store, removal);
  assert.throws(() =>
    q.add(leftovers("a"), () => {
      throw new Error("store full");
    }), /store full/);
  assert.equal(q.pending.count(), 0);
  assert.equal(q.size, 0);
  assert.deepEqual(removal.calls, []);
  store.close();
});

Deno.test("cleanup queue: a failure is tried again; podSettled() waits for the pod's", async () => {
  const store = new Store(":memory:");
  const removal = new FakeRemoval();
  const q = queue(store, removal);
  q.add(leftovers("a", "pod1"), () => {});
  q.add(leftovers("b", "pod2"), () => {});
  let aSettled = false;
  const settled = q.podSettled("pod1").then(() => aSettled = true);
  await removal.finish("a", new Error("conmon's cgroups still in use"));
  await removal.finish("b");
  await q.podSettled("pod2");
  assert.equal(aSettled, false);
  assert.deepEqual(q.pending.list().map((l) => l.id), ["a"]);
  await removal.finish("a"); // the retry, 25 ms later
  await settled;
  await q.drained();
  assert.deepEqual(removal.calls, ["a", "b", "a"]);
  assert.equal(q.pending.count(), 0);
  store.close();
});

Deno.test("cleanup queue: closed, what is left stays recorded; the next queue resumes it", async () => {
  const path = `${await Deno.makeTempDir()}/skiff.db`;
  try {
    const store = new Store(path);
    const removal = new FakeRemoval();
    const q = queue(store, removal);
    q.add(leftovers("a"), () => {});
    q.add(leftovers("b"), () => {});
    q.add(leftovers("c"), () => {});
    await removal.finish("a", new Error("busy")); // waiting to retry when closed
    const closed = q.close();
    await removal.finish("b"); // running when closed: finishes, its record stays
    await closed;
    await q.drained(); // a closed queue is drained: nothing more will run
    assert.deepEqual(removal.calls, ["a", "b"]);
    store.close(); // as a killed Skiff: nothing else written

    const again = new Store(path);
    const next = new FakeRemoval();
    const q2 = queue(again, next);
    assert.equal(q2.resume(), 3);
    const drained = q2.drained();
    for (const id of ["a", "b", "c"]) await next.finish(id);
    await drained;
    assert.equal(q2.pending.count(), 0);
    again.close();
  } finally {
    await Deno.remove(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  }
});
