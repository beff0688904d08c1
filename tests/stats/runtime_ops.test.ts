/**
 * Stats, events, resource updates, log reopen and checkpoint against REAL containers (runc +
 * conmon + overlay, through the container engineers' runtime fixture), below the CRI layer.
 */
import { deepStrictEqual as assertEquals, ok as assert, rejects } from "node:assert/strict";
import { FailedPreconditionError, InvalidArgumentError } from "../../core/errors.ts";
import { logger } from "../../core/log.ts";
import type { LinuxContainerResources } from "../../cri/types.ts";
import type { ContainerRecord } from "../../runtime/container/mod.ts";
import type { ContainerEvent, ContainerForStats, StatsTargets } from "../../runtime/contracts.ts";
import { ContainerEventBus } from "../../runtime/events.ts";
import { ExitWatcher } from "../../runtime/exit_watcher.ts";
import { ContainerMaintenance } from "../../runtime/maintenance.ts";
import { locateByPid, StatsCollector } from "../../runtime/stats/mod.ts";
import { containerForStats } from "../../runtime/stats/targets.ts";
import { RuntimeFixture, runtimePrerequisitesMissing } from "../container/fixture.ts";

const MiB = 1024 * 1024;
const missing = runtimePrerequisitesMissing();

function resources(r: Partial<LinuxContainerResources>): LinuxContainerResources {
  return {
    cpu_period: "0",
    cpu_quota: "0",
    cpu_shares: "0",
    memory_limit_in_bytes: "0",
    oom_score_adj: "0",
    cpuset_cpus: "",
    cpuset_mems: "",
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: "0",
    ...r,
  };
}

/** The fixture's service plus a record of resources (the CRI status path is tested at CRI level). */
function maintained(f: RuntimeFixture, recorded: Map<string, LinuxContainerResources>) {
  return new ContainerMaintenance({
    containers: () => ({
      get: (id: string) => f.service.get(id),
      recordResources: (id: string, r: LinuxContainerResources) => void recorded.set(id, r),
    }),
    sandboxExists: (id) => f.sandboxes.has(id),
    cgroupV2: false,
  });
}

function targetsOf(f: RuntimeFixture): StatsTargets {
  const cgroupsPath = (r: ContainerRecord) =>
    JSON.parse(Deno.readTextFileSync(`${r.bundleDir}/config.json`)).linux.cgroupsPath;
  const one = (r: ContainerRecord): ContainerForStats => containerForStats(r, cgroupsPath(r));
  return {
    listContainersForStats: () => f.service.list().map(one),
    getContainerForStats: (id) => {
      try {
        return one(f.service.get(id));
      } catch {
        return undefined;
      }
    },
    listSandboxesForStats: () => [],
    getSandboxForStats: () => undefined,
  };
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  ms = 10000,
) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test({
  name: "real container: CPU burn and 64 MiB show in ContainerStats numbers",
  ignore: missing !== null,
  async fn() {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const id = await f.run(sb, {
        command: [
          "sh",
          "-c",
          "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null; " +
          "echo filled; while :; do :; done",
        ],
      });
      await until("the fill", async () => (await f.stdoutOf(id)).includes("filled"));
      const collector = new StatsCollector(targetsOf(f), { minRateWindowMs: 0, fsCacheMs: 0 });
      const first = await collector.containerUsage(id);
      assert(first?.cgroup?.cpu);
      await new Promise((r) => setTimeout(r, 500));
      const second = (await collector.containerUsage(id))!;
      assert(second.cgroup!.cpu!.usageNs > first.cgroup.cpu.usageNs, "CPU time rises");
      // A real share of a core, whatever else the machine is doing.
      assert(second.cpuNanoCores! > 50_000_000n, `nano cores ${second.cpuNanoCores}`);
      assert(second.cgroup!.memory!.workingSetBytes >= 64 * MiB, "64 MiB in the working set");
      assert(second.cgroup!.pids! >= 1);
      assert(second.writableLayer !== null, "writable layer measured");
      const listed = await collector.listContainerUsage();
      assertEquals(listed.map((u) => u.container.id), [id]);
      await f.service.stop(id, 0);
      assertEquals(await collector.listContainerUsage(), [], "stopped containers have no stats");
    } finally {
      await f.dispose();
    }
  },
});

Deno.test({
  name:
    "real container: events created → started → stopped (own exit) → deleted, to two subscribers",
  ignore: missing !== null,
  async fn() {
    const f = await RuntimeFixture.create();
    const bus = new ContainerEventBus();
    // The fixture's event sink appends to f.events: route each one through the bus.
    f.events.push = (...evs: ContainerEvent[]) => {
      for (const e of evs) bus.publish(e);
      return 0;
    };
    let watcher: ExitWatcher | undefined;
    try {
      const a = bus.subscribe();
      const b = bus.subscribe();
      watcher = new ExitWatcher({
        dir: `${f.config.state_dir}/exits`,
        onExit: (id) => f.service.get(id).state === "CONTAINER_EXITED",
        log: logger("test"),
      });
      await watcher.start();
      const sb = await f.pod();
      const id = await f.run(sb, { command: ["sh", "-c", "sleep 0.3"] });
      // No status call: the exit watcher alone must notice the exit.
      const seen = async (s: typeof a) => {
        const types: string[] = [];
        for (let i = 0; i < 3; i++) {
          const ev = await Promise.race([
            s.next(),
            new Promise<null>((r) => setTimeout(() => r(null), 10000)),
          ]);
          if (!ev) break;
          assertEquals(ev.containerId, id);
          assertEquals(ev.sandboxId, sb.id);
          types.push(ev.type);
        }
        return types;
      };
      const want = [
        "CONTAINER_CREATED_EVENT",
        "CONTAINER_STARTED_EVENT",
        "CONTAINER_STOPPED_EVENT",
      ];
      assertEquals(await seen(a), want);
      assertEquals(await seen(b), want);
      await f.service.remove(id);
      assertEquals((await a.next())?.type, "CONTAINER_DELETED_EVENT");
      assertEquals((await b.next())?.type, "CONTAINER_DELETED_EVENT");
      a.close();
      b.close();
      assertEquals(bus.subscriberCount, 0);
    } finally {
      await watcher?.close();
      await f.dispose();
    }
  },
});

Deno.test({
  name: "real container: resource update lands in the cgroup files; invalid values refused",
  ignore: missing !== null,
  async fn() {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const id = await f.run(sb, { command: ["sleep", "60"] });
      const recorded = new Map<string, LinuxContainerResources>();
      const m = maintained(f, recorded);
      await m.updateResources(
        id,
        resources({
          memory_limit_in_bytes: String(96 * MiB),
          cpu_shares: "512",
          cpu_quota: "50000",
          cpu_period: "100000",
        }),
      );
      const dirs = await locateByPid(f.service.get(id).pid);
      assert(dirs && dirs.version === 1 && dirs.memory);
      const read = (p: string) => Deno.readTextFileSync(p).trim();
      assertEquals(read(`${dirs.memory}/memory.limit_in_bytes`), String(96 * MiB));
      const cpuDir = dirs.memory.replace("/memory/", "/cpu/");
      assertEquals(read(`${cpuDir}/cpu.shares`), "512");
      assertEquals(read(`${cpuDir}/cpu.cfs_quota_us`), "50000");
      assertEquals(recorded.get(id)?.memory_limit_in_bytes, String(96 * MiB));
      assertEquals(recorded.get(id)?.cpu_shares, "512");
      const spec = JSON.parse(Deno.readTextFileSync(`${f.service.get(id).bundleDir}/config.json`));
      assertEquals(spec.linux.resources.memory.limit, 96 * MiB);

      // A second update changes only what it sets.
      await m.updateResources(id, resources({ cpu_shares: "256" }));
      assertEquals(read(`${cpuDir}/cpu.shares`), "256");
      assertEquals(read(`${dirs.memory}/memory.limit_in_bytes`), String(96 * MiB));
      assertEquals(recorded.get(id)?.cpu_shares, "256");

      for (
        const bad of [
          { memory_limit_in_bytes: "-5" },
          { memory_limit_in_bytes: "1000" },
          { cpu_shares: "1" },
          { cpu_period: "10" },
          { cpuset_cpus: "0-x" },
          { unified: { "memory.max": "1G" } },
        ]
      ) {
        await rejects(
          m.updateResources(id, resources(bad)),
          InvalidArgumentError,
          JSON.stringify(bad),
        );
      }
      assertEquals(read(`${dirs.memory}/memory.limit_in_bytes`), String(96 * MiB), "unchanged");

      await f.service.stop(id, 0);
      await rejects(
        m.updateResources(id, resources({ cpu_shares: "300" })),
        FailedPreconditionError,
      );
    } finally {
      await f.dispose();
    }
  },
});

Deno.test({
  name:
    "real container: log rotated and reopened while writing every 10 ms loses and repeats nothing",
  ignore: missing !== null,
  async fn() {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const id = await f.run(sb, {
        command: [
          "sh",
          "-c",
          "i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo $i; sleep 0.01; done",
        ],
      });
      const m = maintained(f, new Map());
      const logPath = f.service.get(id).logPath;
      await until("some lines", async () => (await f.stdoutOf(id)).split("\n").length > 20);
      await Deno.rename(logPath, `${logPath}.1`);
      await m.reopenLog(id);
      await f.waitExited(id);
      await new Promise((r) => setTimeout(r, 50));
      const { criLogText } = await import("../container/fixture.ts");
      const before = criLogText(await Deno.readTextFile(`${logPath}.1`), "stdout");
      const after = criLogText(await Deno.readTextFile(logPath), "stdout");
      const nums = (s: string) => s.split("\n").filter(Boolean).map(Number);
      assert(nums(before).length > 0 && nums(after).length > 0, "lines in both files");
      assertEquals([...nums(before), ...nums(after)], Array.from({ length: 150 }, (_, i) => i + 1));
      await rejects(m.reopenLog(id), FailedPreconditionError, "not running any more");
    } finally {
      await f.dispose();
    }
  },
});

Deno.test({
  name:
    "real container: checkpoint writes an archive, or FAILED_PRECONDITION saying why CRIU cannot",
  ignore: missing !== null,
  async fn() {
    const f = await RuntimeFixture.create();
    try {
      const sb = await f.pod();
      const id = await f.run(sb, { command: ["sleep", "60"] });
      const m = maintained(f, new Map());
      const location = `${f.dir}/ckpt/c.tar`;
      const criu = await m.criu.status();
      if (criu.usable) {
        await m.checkpoint(id, location, 60);
        const list = new TextDecoder().decode(
          (await new Deno.Command("tar", { args: ["-tf", location], stdout: "piped" }).output())
            .stdout,
        );
        assert(list.includes("./checkpoint/") && list.includes("./spec.dump"), list);
        assertEquals(f.service.get(id).state, "CONTAINER_RUNNING", "left running");
      } else {
        console.error(`(CRIU unusable here: ${criu.reason})`);
        await rejects(m.checkpoint(id, location, 60), (err: Error) => {
          assert(err instanceof FailedPreconditionError);
          assert(err.message.includes("CRIU") && err.message.includes(criu.reason), err.message);
          return true;
        });
        assert(!(await Deno.stat(location).then(() => true, () => false)), "no archive left");
      }
      await rejects(m.checkpoint(id, "relative/path.tar", 0), InvalidArgumentError);
    } finally {
      await f.dispose();
    }
  },
});
