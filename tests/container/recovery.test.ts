/**
 * Surviving Skiff's crashes, and leaving nothing behind: a service dropped without any
 * shutdown (as a SIGKILLed Skiff) and re-opened on the same store finds its containers
 * running, settles the one that exited meanwhile, and can still stop and remove them all;
 * 50 create/start/stop/remove cycles leave no mounts, processes, fds, cgroups or files.
 */
import { assert, assertEquals } from "./assert.ts";
import { containerConfig, RuntimeFixture, runtimePrerequisitesMissing } from "./fixture.ts";

const ignore = runtimePrerequisitesMissing() !== null;
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "recovery: containers outlive a crashed service; exits while away are settled",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push(await f.run(sb, { command: ["sleep", "1000"] }));
      const quitter = await f.run(sb, {
        command: ["sh", "-c", "read x < /dev/null; sleep 0.5; exit 7"],
      });
      const pids = ids.map((id) => f.service.get(id).pid);
      const created = await f.service.create(sb.id, containerConfig({ command: ["true"] }));
      f.crash();
      await new Promise((r) => setTimeout(r, 1000)); // the quitter exits while nobody watches
      for (const pid of pids) {
        assert(
          Deno.statSync(`/proc/${pid}`).isDirectory,
          `pid ${pid} died with the service`,
        );
      }
      await f.open();
      for (const id of ids) assertEquals(f.service.get(id).state, "CONTAINER_RUNNING");
      const q = f.service.get(quitter);
      assertEquals([q.state, q.exitCode, q.reason], ["CONTAINER_EXITED", 7, "Error"]);
      assert(q.finishedAt > q.startedAt);
      assertEquals(f.service.get(created).state, "CONTAINER_CREATED");
      await f.service.start(created);
      for (const id of ids) await f.service.stop(id, 0);
      for (const id of ids) assertEquals(f.service.get(id).exitCode, 137);
      for (const id of [...ids, quitter, created]) await f.service.remove(id);
      assertEquals(f.service.list().length, 0);
    } finally {
      await f.dispose();
    }
  },
);

Deno.test(
  "recovery: containers recorded in an earlier boot are not trusted to be running",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const id = await f.run(sb, { command: ["sleep", "1000"] });
      const rec = f.service.get(id);
      // Its PIDs are alive, but the record says another boot: PIDs from then mean nothing.
      f.store.collection("containers").put(id, { ...rec, bootId: "an-earlier-boot" }, sb.id);
      f.crash();
      await f.open();
      const after = f.service.get(id);
      assertEquals([after.state, after.exitCode, after.reason], [
        "CONTAINER_EXITED",
        255,
        "Unknown",
      ]);
      assert(after.message.includes("rebooted"), after.message);
      await f.service.remove(id); // runc delete --force takes the real process down
      await f.cleanupsDrained();
      assert(!Deno.readTextFileSync("/proc/self/mountinfo").includes(rec.bundleDir));
    } finally {
      await f.dispose();
    }
  },
);

Deno.test("recovery: a container a crash left half-created is undone at start", opts, async () => {
  const f = await RuntimeFixture.create();
  try {
    const sb = await f.pod();
    const id = await f.service.create(sb.id, containerConfig({ command: ["true"] }));
    const rec = f.service.get(id);
    // As if Skiff died inside CreateContainer: the record still says "creating", the
    // overlay is mounted and the bundle half-written.
    f.store.collection("containers").put(id, { ...rec, creating: true }, sb.id);
    f.crash();
    const rootfs = `${rec.bundleDir}/rootfs`;
    assert(Deno.readTextFileSync("/proc/self/mountinfo").includes(rootfs));
    await f.open();
    assertEquals(f.service.list().map((r) => r.id), []);
    assert(!Deno.readTextFileSync("/proc/self/mountinfo").includes(rootfs), "rootfs still mounted");
    for (const p of [rec.bundleDir, rec.upperDir]) {
      let exists = true;
      try {
        Deno.statSync(p);
      } catch {
        exists = false;
      }
      assert(!exists, `${p} left behind`);
    }
    // and its name is free again
    const again = await f.service.create(
      sb.id,
      containerConfig({
        command: ["true"],
        metadata: { name: rec.name, attempt: rec.attempt },
      }),
    );
    assert(again !== id);
  } finally {
    await f.dispose();
  }
});

function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[1]) === pid) {
        out.push(
          `${e.name} ${stat.slice(stat.indexOf("("), stat.lastIndexOf(")") + 1)} ${rest[0]}`,
        );
      }
    } catch { /* gone */ }
  }
  return out;
}

Deno.test(
  "leaks: 50 create/start/stop/remove cycles leave no mounts, processes, fds, cgroups or files",
  opts,
  async () => {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      // warm up once so lazily opened resources (store statements, caches) are counted before
      const warm = await f.run(sb, { command: ["sleep", "100"] });
      await f.service.stop(warm, 0);
      await f.service.remove(warm);
      await f.cleanupsDrained();
      const fdsBefore = [...Deno.readDirSync("/proc/self/fd")].length;
      // Other tests on this machine mount and unmount too: count only this test's mounts.
      const ownMounts = () =>
        Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
          .filter((l) => l.split(" ")[4]?.startsWith(f.dir)).length;
      const mountsBefore = ownMounts();
      for (let i = 0; i < 50; i++) {
        // odd cycles stop gracefully (the shell handles SIGTERM), even ones are killed at once
        const id = await f.run(sb, {
          command: ["sh", "-c", "trap 'exit 0' TERM; echo hi; sleep 100 & wait"],
        });
        await f.service.stop(id, i % 2 === 0 ? 0 : 1);
        await f.service.remove(id);
      }
      // Mounts, dirs and conmon's cgroups go after the replies, in the cleanup queue.
      await f.cleanupsDrained();
      await new Promise((r) => setTimeout(r, 200));
      assertEquals(childrenOf(Deno.pid), [], "no child processes (zombie conmon/runc) left");
      const fdsAfter = [...Deno.readDirSync("/proc/self/fd")].length;
      assert(fdsAfter <= fdsBefore, `fds grew from ${fdsBefore} to ${fdsAfter}`);
      const mountsAfter = ownMounts();
      assertEquals(mountsAfter, mountsBefore, "mount table changed");
      assertEquals([...Deno.readDirSync(`${f.config.state_dir}/containers`)].length, 0);
      assertEquals([...Deno.readDirSync(`${f.config.root_dir}/containers`)].length, 0);
      assertEquals([...Deno.readDirSync(`${f.config.state_dir}/exits`)].length, 0);
      const conmons = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).filter(
        (e) => {
          try {
            return Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(f.dir);
          } catch {
            return false;
          }
        },
      );
      assertEquals(conmons.length, 0, "a process still refers to the test dir");
      for (const h of ["memory", "pids", "cpu"]) {
        let left: string[] = [];
        try {
          left = [...Deno.readDirSync(`/sys/fs/cgroup/${h}${sb.cgroupParent}`)].filter((e) =>
            e.isDirectory
          ).map((e) => e.name);
        } catch { /* no parent cgroup at all: nothing left */ }
        assertEquals(left, [], `cgroups left under ${h}${sb.cgroupParent}`);
      }
    } finally {
      await f.dispose();
    }
  },
);
