/**
 * Containers through CRI against a real Skiff: an image built by the test, pushed to a real
 * registry on 127.0.0.1 and pulled through Skiff; pods on the host network (no CNI needed);
 * containers run by conmon + runc. Then Skiff is SIGKILLed with five running containers.
 */
import { assert, assertEquals, assertMatch } from "./assert.ts";
import { runtimePrerequisitesMissing } from "./fixture.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { CriCallError } from "../../cri/client.ts";
import { conmonCgroupDirs } from "../../runtime/container/conmon_cgroups.ts";
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig, PodSandboxConfig } from "../../cri/types.ts";

const ignore = runtimePrerequisitesMissing() !== null || registryPrerequisitesMissing() !== null;
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

let seq = 0;
function pod(s: TestSkiff): DeepPartial<PodSandboxConfig> {
  const n = ++seq;
  return {
    metadata: { name: `cpod${n}`, namespace: "ctest", uid: crypto.randomUUID(), attempt: 0 },
    hostname: `cpod${n}`,
    log_directory: `${s.dir}/pod-logs/${n}`,
    linux: {
      security_context: { namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" } },
    },
  };
}

function ctr(
  image: string,
  name: string,
  over: DeepPartial<ContainerConfig> = {},
): DeepPartial<ContainerConfig> {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    log_path: `${name}/0.log`,
    labels: { app: "ctest", name },
    ...over,
  };
}

async function failure(p: Promise<unknown>): Promise<CriCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CriCallError) return err;
    throw err;
  }
  throw new Error("expected the call to fail");
}

async function waitState(s: TestSkiff, id: string, state: string, ms = 10000) {
  const deadline = Date.now() + ms;
  while (true) {
    const { status } = await s.client.call("ContainerStatus", { container_id: id });
    if (status?.state === state) return status;
    if (Date.now() > deadline) throw new Error(`container ${id} is ${status?.state}, not ${state}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function processesReferring(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).replaceAll("\0", " ");
      if (cmd.includes(dir)) out.push(`${e.name}: ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

Deno.test(
  "CRI containers: pull, create, start, logs, status, list/stream filters, stop, remove",
  opts,
  async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      const img = await pushBusyboxImage(registry, "ctest/busybox:1", {
        config: {
          Env: ["FROM_IMAGE=yes"],
          Cmd: ["sh", "-c", "echo default-cmd"],
          StopSignal: "SIGUSR1",
        },
      });
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const sandbox_config = pod(s);
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", {
        config: sandbox_config,
      });

      // image must be present
      const missing = await failure(s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(`${registry.host}/ctest/nope:1`, "x"),
        sandbox_config,
      }));
      assertEquals(missing.codeName, "NOT_FOUND");

      const { container_id: id } = await s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(img.ref, "main", {
          command: [
            "sh",
            "-c",
            "echo out-$FROM_IMAGE-$EXTRA; echo err >&2; trap 'exit 0' USR1; sleep 100 & wait",
          ],
          envs: [{ key: "EXTRA", value: new TextEncoder().encode("cri") }],
        }),
        sandbox_config,
      });
      const dup = await failure(s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(img.ref, "main"),
        sandbox_config,
      }));
      assertEquals(dup.codeName, "ALREADY_EXISTS");

      let st = (await s.client.call("ContainerStatus", { container_id: id })).status!;
      assertEquals(st.state, "CONTAINER_CREATED");
      await s.client.call("StartContainer", { container_id: id });
      st = (await s.client.call("ContainerStatus", { container_id: id })).status!;
      assertEquals(st.state, "CONTAINER_RUNNING");
      assertEquals(st.stop_signal, "SIGUSR1");
      assert(st.image_id.startsWith("sha256:"));
      assertEquals(st.log_path, `${sandbox_config.log_directory}/main/0.log`);
      const verbose = await s.client.call("ContainerStatus", { container_id: id, verbose: true });
      const info = JSON.parse(verbose.info.info) as {
        pid: number;
        runtimeSpec: { process: { args: string[] } };
      };
      assert(info.pid > 0 && Deno.statSync(`/proc/${info.pid}`).isDirectory);
      assertEquals(info.runtimeSpec.process.args[0], "sh");

      // the log file in CRI format, with both streams
      let log = "";
      for (let i = 0; i < 100 && !log.includes("stderr F err"); i++) {
        log = await Deno.readTextFile(st.log_path).catch(() => "");
        await new Promise((r) => setTimeout(r, 20));
      }
      assertMatch(log, /^\S+Z? stdout F out-yes-cri$/m);
      assertMatch(log, /^\S+ stderr F err$/m);

      // a second container that completes, for the filters
      const { container_id: done } = await s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(img.ref, "done"),
        sandbox_config,
      });
      await s.client.call("StartContainer", { container_id: done });
      const dst = await waitState(s, done, "CONTAINER_EXITED");
      assertEquals([dst.exit_code, dst.reason], [0, "Completed"]);
      assert(BigInt(dst.finished_at) >= BigInt(dst.started_at) && BigInt(dst.started_at) > 0n);

      const list = async (filter: Record<string, unknown>) =>
        (await s.client.call("ListContainers", { filter })).containers.map((c) => c.id).sort();
      assertEquals(await list({}), [id, done].sort());
      assertEquals(await list({ id: id.slice(0, 10) }), [id]);
      assertEquals(await list({ state: { state: "CONTAINER_RUNNING" } }), [id]);
      assertEquals(await list({ state: { state: "CONTAINER_EXITED" } }), [done]);
      assertEquals(await list({ label_selector: { name: "done" } }), [done]);
      assertEquals(await list({ pod_sandbox_id: podId }), [id, done].sort());
      assertEquals(await list({ pod_sandbox_id: "0000" }), []);
      const streamed: string[] = [];
      for await (
        const msg of s.client.stream("StreamContainers", {
          filter: { label_selector: { app: "ctest" } },
        })
      ) {
        streamed.push(...msg.containers.map((c) => c.id));
      }
      assertEquals(streamed.sort(), [id, done].sort());

      // an exit seen by ListContainers alone, as kubelet's relist sees it (no status call):
      // the exit watcher reports it, list no longer reads exit files on every call
      const { container_id: quits } = await s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(img.ref, "quits", { command: ["sh", "-c", "exit 3"] }),
        sandbox_config,
      });
      await s.client.call("StartContainer", { container_id: quits });
      let listed = "";
      for (let i = 0; i < 400 && listed !== "CONTAINER_EXITED"; i++) {
        const found = (await s.client.call("ListContainers", { filter: { id: quits } }))
          .containers;
        listed = found[0]?.state ?? "";
        if (listed !== "CONTAINER_EXITED") await new Promise((r) => setTimeout(r, 25));
      }
      assertEquals(listed, "CONTAINER_EXITED");
      const qst = (await s.client.call("ContainerStatus", { container_id: quits })).status!;
      assertEquals([qst.exit_code, qst.reason], [3, "Error"]);
      await s.client.call("RemoveContainer", { container_id: quits });

      // stop with the image's StopSignal (handled: exits 0 long before the grace period)
      const t0 = Date.now();
      await s.client.call("StopContainer", { container_id: id, timeout: "30" });
      assert(Date.now() - t0 < 10000);
      st = (await s.client.call("ContainerStatus", { container_id: id })).status!;
      assertEquals([st.state, st.exit_code, st.reason], ["CONTAINER_EXITED", 0, "Completed"]);
      await s.client.call("StopContainer", { container_id: id, timeout: "1" });

      // start failure through CRI: an error, and a status that says why
      const { container_id: bad } = await s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(img.ref, "bad", { command: ["/not/here"] }),
        sandbox_config,
      });
      const startErr = await failure(s.client.call("StartContainer", { container_id: bad }));
      assertMatch(startErr.details, /not\/here/);
      const bst = (await s.client.call("ContainerStatus", { container_id: bad })).status!;
      assertEquals([bst.state, bst.reason], ["CONTAINER_EXITED", "StartError"]);
      assertMatch(bst.message, /not\/here/);

      // removal: idempotent, then NOT_FOUND for status
      for (const c of [id, done, bad]) {
        await s.client.call("RemoveContainer", { container_id: c });
        await s.client.call("RemoveContainer", { container_id: c });
      }
      const gone = await failure(s.client.call("ContainerStatus", { container_id: id }));
      assertEquals(gone.codeName, "NOT_FOUND");
      // StopContainer is idempotent too (kubelet retries stops): a removed container and an
      // ID never seen both succeed, as containerd answers; an empty ID is still refused.
      await s.client.call("StopContainer", { container_id: id, timeout: "0" });
      await s.client.call("StopContainer", { container_id: "f".repeat(64), timeout: "0" });
      const empty = await failure(
        s.client.call("StopContainer", { container_id: "", timeout: "0" }),
      );
      assertEquals(empty.codeName, "INVALID_ARGUMENT");
      assertEquals(await list({}), []);
      await s.client.call("StopPodSandbox", { pod_sandbox_id: podId });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
);

Deno.test(
  "CRI containers: Skiff SIGKILLed with 5 running containers; all survive, exits are settled, pod removal cleans",
  opts,
  async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      const img = await pushBusyboxImage(registry, "ctest/busybox:2");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config: pod(s) });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const command = i === 4
          ? ["sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 7"]
          : ["sleep", "1000"];
        const { container_id } = await s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: ctr(img.ref, `c${i}`, { command }),
        });
        await s.client.call("StartContainer", { container_id });
        ids.push(container_id);
      }
      const pids: number[] = [];
      for (const id of ids) {
        const v = await s.client.call("ContainerStatus", { container_id: id, verbose: true });
        pids.push((JSON.parse(v.info.info) as { pid: number }).pid);
      }
      await s.kill();
      // While Skiff is down, the fifth container is told to exit (through its own rootfs).
      const bundleRootfs = `${s.stateDir}/containers/${ids[4]}/rootfs`;
      await Deno.writeTextFile(`${bundleRootfs}/tmp/go`, "");
      const ended = (pid: number) => {
        try {
          return Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].startsWith("Z");
        } catch {
          return true;
        }
      };
      const deadline = Date.now() + 10000;
      while (!ended(pids[4]) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      await new Promise((r) => setTimeout(r, 200));
      for (const pid of pids.slice(0, 4)) {
        assert(
          Deno.statSync(`/proc/${pid}`).isDirectory,
          `pid ${pid} died with Skiff`,
        );
      }
      await s.start();
      for (const id of ids.slice(0, 4)) {
        const st = (await s.client.call("ContainerStatus", { container_id: id })).status!;
        assertEquals(st.state, "CONTAINER_RUNNING");
      }
      const q = (await s.client.call("ContainerStatus", { container_id: ids[4] })).status!;
      assertEquals([q.state, q.exit_code, q.reason], ["CONTAINER_EXITED", 7, "Error"]);
      assert(BigInt(q.finished_at) > BigInt(q.started_at));
      // all can be stopped; the pod's removal removes the containers created before the restart
      for (const id of ids.slice(0, 2)) {
        await s.client.call("StopContainer", { container_id: id, timeout: "0" });
        assertEquals(
          (await s.client.call("ContainerStatus", { container_id: id })).status!.exit_code,
          137,
        );
      }
      await s.client.call("StopPodSandbox", { pod_sandbox_id: podId });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
      assertEquals((await s.client.call("ListContainers", {})).containers, []);
      assertEquals(processesReferring(s.dir).filter((p) => !p.startsWith(`${s.pid}:`)), []);
      assertEquals([...Deno.readDirSync(`${s.stateDir}/containers`)], []);
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
);

Deno.test(
  "CRI containers: a pod sharing one PID namespace; host PID; RemovePodSandbox takes running containers down",
  opts,
  async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      const img = await pushBusyboxImage(registry, "ctest/busybox:3");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const cfg = pod(s);
      cfg.linux = {
        security_context: { namespace_options: { network: "NODE", pid: "POD", ipc: "POD" } },
      };
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config: cfg });
      const run = async (name: string, command: string[], pid: "POD" | "NODE" = "POD") => {
        const { container_id } = await s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: ctr(img.ref, name, {
            command,
            linux: {
              security_context: { namespace_options: { network: "NODE", pid, ipc: "POD" } },
            },
          }),
          sandbox_config: cfg,
        });
        await s.client.call("StartContainer", { container_id });
        return container_id;
      };
      const sleeper = await run("sleeper", ["sleep", "4242"]);
      const looker = await run("looker", ["sh", "-c", "ps -o args | grep -c '^sleep 4242$'"]);
      const st = await waitState(s, looker, "CONTAINER_EXITED");
      assertEquals(st.exit_code, 0);
      const log = await Deno.readTextFile(st.log_path);
      assertMatch(log, /stdout F 1$/m);
      // host PID: the node's PID 1 is visible
      const host = await run("host", [
        "sh",
        "-c",
        "[ -r /proc/1/cmdline ] && ls /proc | grep -c '^[0-9]'",
      ], "NODE");
      const hst = await waitState(s, host, "CONTAINER_EXITED");
      const count = Number(
        /stdout F (\d+)$/m.exec(await Deno.readTextFile(hst.log_path))?.[1] ?? 0,
      );
      assert(count > 10, `host PID namespace shows only ${count} processes`);
      // removing the pod forces its running container down and removes all of them
      assertEquals(
        (await s.client.call("ContainerStatus", { container_id: sleeper })).status!.state,
        "CONTAINER_RUNNING",
      );
      await s.client.call("StopPodSandbox", { pod_sandbox_id: podId });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
      assertEquals((await s.client.call("ListContainers", {})).containers, []);
      assertEquals(processesReferring(s.dir).filter((p) => !p.startsWith(`${s.pid}:`)), []);
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
);

Deno.test(
  "CRI containers: Skiff SIGKILLed before a removed container's leftovers went; its next start removes them",
  opts,
  async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    let holder: Deno.ChildProcess | undefined;
    try {
      const img = await pushBusyboxImage(registry, "ctest/busybox:5");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const cfg = pod(s);
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config: cfg });
      const { container_id: id } = await s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(img.ref, "gone", { command: ["sleep", "1000"] }),
        sandbox_config: cfg,
      });
      await s.client.call("StartContainer", { container_id: id });
      await s.client.call("StopContainer", { container_id: id, timeout: "0" });
      // A process in conmon's memory cgroup, as a conmon that lingers: it cannot be removed
      // before Skiff is killed.
      const cgroups = conmonCgroupDirs("", id);
      const held = cgroups.find((d) => d.includes("/memory/"))!;
      holder = new Deno.Command("sleep", { args: ["1000"] }).spawn();
      Deno.writeTextFileSync(`${held}/cgroup.procs`, `${holder.pid}\n`);
      await s.client.call("RemoveContainer", { container_id: id });
      await s.kill();
      assert(existsPath(held));
      holder.kill("SIGKILL");
      await holder.status;
      holder = undefined;

      await s.start();
      assertEquals((await s.client.call("ListContainers", {})).containers, []);
      await cleanupsDrained(s);
      assertEquals(cgroups.filter(existsPath), []);
      assertEquals([...Deno.readDirSync(`${s.stateDir}/containers`)], []);
      assertEquals([...Deno.readDirSync(`${s.rootDir}/containers`)], []);
      assert(!Deno.readTextFileSync("/proc/self/mountinfo").includes(`${s.stateDir}/containers`));
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
    } finally {
      if (holder) {
        holder.kill("SIGKILL");
        await holder.status;
      }
      await s.dispose();
      await registry.stop();
    }
  },
);

function existsPath(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until Skiff reports no removed container's leftovers still to remove (its
 * skiff_container_cleanups_pending gauge): those go after RemoveContainer's reply.
 */
async function cleanupsDrained(s: TestSkiff, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let pending = "";
  while (Date.now() < deadline) {
    const metrics = await (await fetch(s.adminUrl("/metrics"))).text();
    pending = /^skiff_container_cleanups_pending (\S+)$/m.exec(metrics)?.[1] ?? "";
    if (pending === "0") return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(
    `container cleanups still pending after ${ms} ms (gauge: ${pending || "absent"})`,
  );
}

function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(stat);
    } catch { /* gone */ }
  }
  return out;
}

Deno.test(
  "CRI containers: 50 create/start/stop/remove cycles leave Skiff no fds, children, mounts or files",
  opts,
  async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create();
    try {
      const img = await pushBusyboxImage(registry, "ctest/busybox:4");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const cfg = pod(s);
      const { pod_sandbox_id: podId } = await s.client.call("RunPodSandbox", { config: cfg });
      const cycle = async (i: number) => {
        const { container_id } = await s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: ctr(img.ref, `leak${i}`, { command: ["sh", "-c", "echo hi; sleep 100"] }),
          sandbox_config: cfg,
        });
        await s.client.call("StartContainer", { container_id });
        await s.client.call("StopContainer", { container_id, timeout: "0" });
        await s.client.call("RemoveContainer", { container_id });
      };
      await cycle(-1); // warm-up: lazily opened files and caches
      await cleanupsDrained(s);
      const fds = () => [...Deno.readDirSync(`/proc/${s.pid}/fd`)].length;
      const ownMounts = () =>
        Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
          .filter((l) => l.split(" ")[4]?.startsWith(`${s.dir}/state/containers`)).length;
      const fdsBefore = fds();
      for (let i = 0; i < 50; i++) await cycle(i);
      await cleanupsDrained(s);
      await new Promise((r) => setTimeout(r, 300));
      const fdsAfter = fds();
      assert(fdsAfter <= fdsBefore, `Skiff's fds grew from ${fdsBefore} to ${fdsAfter}`);
      assertEquals(childrenOf(s.pid!), [], "Skiff has child processes left (zombies?)");
      assertEquals(ownMounts(), 0);
      assertEquals([...Deno.readDirSync(`${s.stateDir}/containers`)].length, 0);
      assertEquals([...Deno.readDirSync(`${s.rootDir}/containers`)].length, 0);
      assertEquals(processesReferring(`${s.dir}/state/containers`), []);
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: podId });
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
);
