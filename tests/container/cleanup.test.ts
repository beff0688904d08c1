/**
 * RemoveContainer's deferred cleanup: the container is gone from every list and its name is
 * free as soon as the call returns; its rootfs mount, bundle, writable layer, exit file and
 * conmon's cgroups go right after, from a record kept in the store, so that a service
 * dropped (as a SIGKILLed Skiff) before they went removes them at its next start.
 */
import { leftoversOf } from "../../runtime/container/cleanup.ts";
import { conmonCgroupDirs } from "../../runtime/container/conmon_cgroups.ts";
import type { ContainerRecord } from "../../runtime/container/mod.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";
import { containerConfig, RuntimeFixture, runtimePrerequisitesMissing } from "./fixture.ts";
import { NotFoundError } from "../../core/errors.ts";
import { Store } from "../../store/mod.ts";

const ignore = runtimePrerequisitesMissing() !== null;
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** What a container leaves on the node until its cleanup has run, that is still there. */
function leftOnNode(f: RuntimeFixture, rec: ContainerRecord, cgroupParent: string): string[] {
  const mounted = Deno.readTextFileSync("/proc/self/mountinfo").includes(rec.bundleDir);
  return [
    ...(mounted ? [`mount under ${rec.bundleDir}`] : []),
    ...[rec.bundleDir, rec.upperDir, `${f.config.state_dir}/exits/${rec.id}`].filter(exists),
    ...conmonCgroupDirs(cgroupParent, rec.id).filter(exists),
  ];
}

/** A stopped container whose conmon has gone; its record as RemoveContainer sees it. */
async function stoppedContainer(f: RuntimeFixture, sandboxId: string): Promise<ContainerRecord> {
  const sb = f.sandboxes.get(sandboxId)!;
  const id = await f.run(sb, { command: ["sleep", "1000"] });
  await f.service.stop(id, 0);
  const rec = structuredClone(f.service.get(id));
  const memory = conmonCgroupDirs(sb.cgroupParent, id).find((d) => d.includes("/memory/"));
  assert(memory && exists(memory), "conmon was placed in a pod cgroup");
  return rec;
}

/** Waits until `cond` holds, looking every 10 ms; fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test(
  "cleanup: a removed container is gone at once; a busy leftover is retried, and after a crash",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    let holder: Deno.ChildProcess | undefined;
    try {
      const sb = await f.pod();
      const rec = await stoppedContainer(f, sb.id);
      // A process in conmon's memory cgroup, as a conmon that lingers: that cgroup cannot go.
      holder = new Deno.Command("sleep", { args: ["1000"] }).spawn();
      const held = conmonCgroupDirs(sb.cgroupParent, rec.id).find((d) => d.includes("/memory/"))!;
      Deno.writeTextFileSync(`${held}/cgroup.procs`, `${holder.pid}\n`);

      await f.service.remove(rec.id);
      assertEquals(f.service.list().map((r) => r.id).includes(rec.id), false);
      assertThrows(() => f.service.get(rec.id), NotFoundError);
      const again = await f.service.create(
        sb.id,
        containerConfig({ command: ["true"], metadata: { name: rec.name, attempt: rec.attempt } }),
      );
      assert(again !== rec.id, "the name is free at once");
      await f.service.remove(again);

      // Everything but the busy cgroup goes; that one is tried again until the crash.
      await until(
        () => leftOnNode(f, rec, sb.cgroupParent).join() === held,
        "only the held cgroup left",
      );
      f.crash();
      holder.kill("SIGKILL");
      await holder.status;
      holder = undefined;
      await f.open();
      await f.cleanupsDrained();
      assertEquals(leftOnNode(f, rec, sb.cgroupParent), []);
    } finally {
      if (holder) {
        holder.kill("SIGKILL");
        await holder.status;
      }
      await f.dispose();
    }
  },
);

Deno.test(
  "cleanup: dropped right after RemoveContainer replied, the next start removes everything",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const rec = await stoppedContainer(f, sb.id);
      f.crash();
      // The store as RemoveContainer leaves it, in one transaction: the container's record
      // gone, its leftovers recorded. Nothing is removed from the node yet.
      const store = new Store(`${f.dir}/root/skiff.db`);
      store.transaction(() => {
        store.collection("containers").delete(rec.id);
        store.collection("container_cleanups").put(rec.id, leftoversOf(rec));
      });
      store.close();
      const before = leftOnNode(f, rec, sb.cgroupParent);
      const cgroups = conmonCgroupDirs(sb.cgroupParent, rec.id).length;
      assertEquals(
        before.length,
        4 + cgroups,
        `mount, bundle, upper, exit file, cgroups: ${before}`,
      );

      await f.open();
      assertThrows(() => f.service.get(rec.id), NotFoundError);
      await f.cleanupsDrained();
      assertEquals(leftOnNode(f, rec, sb.cgroupParent), []);
      assertEquals(f.store.collection("container_cleanups").count(), 0);
    } finally {
      await f.dispose();
    }
  },
);

Deno.test(
  "cleanup: removing a pod's containers returns once the leftovers of all of them are gone",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const removed = await stoppedContainer(f, sb.id);
      const running = await f.run(sb, { command: ["sleep", "1000"] });
      const rec = structuredClone(f.service.get(running));
      await f.service.remove(removed.id); // its leftovers are queued
      await f.service.removePodContainers(sb.id); // as RemovePodSandbox
      assertEquals(leftOnNode(f, removed, sb.cgroupParent), []);
      assertEquals(leftOnNode(f, rec, sb.cgroupParent), []);
    } finally {
      await f.dispose();
    }
  },
);
