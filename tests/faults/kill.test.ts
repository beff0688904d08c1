/**
 * Skiff SIGKILLed in the middle of an operation, for each of RunPodSandbox,
 * CreateContainer, StartContainer, StopContainer, PullImage and RemovePodSandbox.
 *
 * Each iteration prepares what the operation needs, sends the call, SIGKILLs Skiff after a
 * random delay in [0, N] ms (N = 1.3 × the operation's own duration, measured by one
 * uninterrupted run first, so most kills land inside it), restarts Skiff, and then asserts:
 * every pod and container it lists is consistent (status calls succeed, running ones still
 * run, ready pods keep their namespaces), a bystander pod's container the operation does
 * not touch runs on with the same PID, the interrupted operation can be retried to
 * success, and a full teardown through CRI leaves zero leaked mounts, netns files, veths,
 * IPAM allocations, per-pod iptables rules, cgroups, processes and files.
 *
 * CI runs a few iterations per operation. The heavy variant runs many:
 *
 *     SKIFF_HEAVY_FAULTS=1 deno test --allow-all tests/faults/kill.test.ts
 *
 * The delays used are printed, so a failing iteration can be reasoned about.
 */
import type { DeepPartial } from "../../cri/handler.ts";
import type { PodSandboxConfig } from "../../cri/types.ts";
import { buildBusyboxImage, file, pushImage } from "../helpers/oci_build.ts";
import {
  assert,
  assertConsistent,
  assertNoLeaks,
  faultPrerequisitesMissing,
  FaultWorld,
  HEAVY,
  sleep,
  teardownThroughCri,
} from "./helpers.ts";

const ignore = faultPrerequisitesMissing() !== null;
const ITERATIONS = HEAVY ? 25 : 5;

interface Pod {
  id: string;
  config: DeepPartial<PodSandboxConfig>;
}

/** One operation under test: what it needs, the call itself, and its retry after restart. */
interface Scenario<C> {
  prepare(w: FaultWorld): Promise<C>;
  call(w: FaultWorld, c: C): Promise<unknown>;
  /** After the restart: finishes the operation (retrying it if needed) and checks it. */
  retry(w: FaultWorld, c: C): Promise<void>;
}

async function runScenario<C>(
  name: string,
  sc: Scenario<C>,
  opts: { image?: "big" } = {},
): Promise<void> {
  const w = await FaultWorld.create();
  try {
    await w.skiff.start();
    await w.pullImage();
    if (opts.image === "big") await pushBigImage(w);
    // One uninterrupted run measures how long the operation takes.
    let c = await sc.prepare(w);
    const t0 = performance.now();
    await sc.call(w, c);
    const took = performance.now() - t0;
    await teardownThroughCri(w.skiff);
    const maxDelay = Math.max(10, Math.ceil(took * 1.3));
    const outcomes: string[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      // A pod and container the operation does not touch: it must run on, unchanged.
      const bystander = await w.container(await w.pod(), "bystander");
      await w.client.call("StartContainer", { container_id: bystander });
      const bystanderPid = await pidOf(w, bystander);
      c = await sc.prepare(w);
      const delay = Math.floor(Math.random() * maxDelay);
      const ctx = `${name} iteration ${i} (kill after ${delay} ms of ~${Math.round(took)} ms)`;
      let finished = false;
      const pending = sc.call(w, c).then(() => finished = true, () => {});
      await sleep(delay);
      await w.skiff.kill();
      await pending;
      outcomes.push(`${delay}ms:${finished ? "completed" : "interrupted"}`);
      await w.skiff.start();
      await assertConsistent(w.skiff, `${ctx}, after restart`);
      assert.equal(await containerState(w, bystander), "CONTAINER_RUNNING", `${ctx}: bystander`);
      assert.equal(await pidOf(w, bystander), bystanderPid, `${ctx}: bystander restarted`);
      await sc.retry(w, c);
      await assertConsistent(w.skiff, `${ctx}, after retry`);
      await teardownThroughCri(w.skiff);
      await assertNoLeaks(w, ctx);
    }
    console.log(`${name} (~${Math.round(took)} ms): ${outcomes.join(" ")}`);
  } catch (err) {
    console.error(`skiff log tail:\n${(await w.skiff.log()).slice(-4000)}`);
    throw err;
  } finally {
    await w.dispose();
  }
}

/** An image with three 2 MiB incompressible layers, so a pull takes long enough to cut. */
const BIG = "faults/big:1";
async function pushBigImage(w: FaultWorld): Promise<void> {
  const layer = (n: number) => {
    const data = new Uint8Array(2 * 1024 * 1024);
    for (let o = 0; o < data.length; o += 65536) {
      crypto.getRandomValues(data.subarray(o, o + 65536));
    }
    return [file(`data/blob${n}`, data)];
  };
  await pushImage(
    w.registry,
    BIG,
    await buildBusyboxImage({ extraLayers: [layer(1), layer(2), layer(3)] }),
  );
}

/** The pod with this config's uid, if Skiff lists it. */
async function podByUid(w: FaultWorld, uid: string): Promise<string | undefined> {
  const { items } = await w.client.call("ListPodSandbox", {});
  return items.find((p) => p.metadata?.uid === uid)?.id;
}

async function containerState(w: FaultWorld, id: string): Promise<string> {
  const { status } = await w.client.call("ContainerStatus", { container_id: id });
  return status!.state;
}

async function pidOf(w: FaultWorld, id: string): Promise<number> {
  const st = await w.client.call("ContainerStatus", { container_id: id, verbose: true });
  return (JSON.parse(st.info.info) as { pid: number }).pid;
}

async function waitState(w: FaultWorld, id: string, state: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await containerState(w, id) === state) return;
    await sleep(25);
  }
  assert.equal(await containerState(w, id), state);
}

const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

Deno.test("SIGKILL during RunPodSandbox", opts, async () => {
  await runScenario<DeepPartial<PodSandboxConfig>>("RunPodSandbox", {
    prepare: async (w) => {
      await w.pullImage();
      return w.podConfig();
    },
    call: (w, config) => w.client.call("RunPodSandbox", { config }),
    retry: async (w, config) => {
      let id = await podByUid(w, config.metadata!.uid!);
      if (!id) id = (await w.client.call("RunPodSandbox", { config })).pod_sandbox_id;
      const st = await w.client.call("PodSandboxStatus", { pod_sandbox_id: id });
      assert.equal(st.status!.state, "SANDBOX_READY");
      // The retried pod is usable: a container runs in it.
      const c = await w.container({ id, config }, "after");
      await w.client.call("StartContainer", { container_id: c });
      assert.equal(await containerState(w, c), "CONTAINER_RUNNING");
    },
  });
});

Deno.test("SIGKILL during CreateContainer", opts, async () => {
  await runScenario<Pod>("CreateContainer", {
    prepare: async (w) => {
      await w.pullImage();
      return await w.pod();
    },
    call: (w, pod) => w.container(pod, "victim"),
    retry: async (w, pod) => {
      const { containers } = await w.client.call("ListContainers", {
        filter: { pod_sandbox_id: pod.id },
      });
      const found = containers.filter((c) => c.metadata?.name === "victim");
      assert.ok(found.length <= 1, "the container was created twice");
      const id = found[0]?.id ?? await w.container(pod, "victim");
      assert.equal(await containerState(w, id), "CONTAINER_CREATED");
      await w.client.call("StartContainer", { container_id: id });
      assert.equal(await containerState(w, id), "CONTAINER_RUNNING");
    },
  });
});

Deno.test("SIGKILL during StartContainer", opts, async () => {
  await runScenario<string>("StartContainer", {
    prepare: async (w) => {
      await w.pullImage();
      return await w.container(await w.pod(), "victim");
    },
    call: (w, id) => w.client.call("StartContainer", { container_id: id }),
    retry: async (w, id) => {
      const state = await containerState(w, id);
      assert.ok(
        state === "CONTAINER_CREATED" || state === "CONTAINER_RUNNING",
        `an interrupted start left the container ${state}`,
      );
      if (state === "CONTAINER_CREATED") {
        await w.client.call("StartContainer", { container_id: id });
      }
      assert.equal(await containerState(w, id), "CONTAINER_RUNNING");
      // It really runs: exec into it.
      const r = await w.client.call("ExecSync", { container_id: id, cmd: ["echo", "hi"] });
      assert.equal(new TextDecoder().decode(r.stdout), "hi\n");
    },
  });
});

Deno.test("SIGKILL during StopContainer", opts, async () => {
  await runScenario<string>("StopContainer", {
    prepare: async (w) => {
      await w.pullImage();
      // Takes ~0.4 s to honour SIGTERM, so a stop with a grace period has a middle to cut.
      const id = await w.container(await w.pod(), "victim", {
        command: ["sh", "-c", "trap 'sleep 0.4; exit 3' TERM; sleep 1000 & wait"],
      });
      await w.client.call("StartContainer", { container_id: id });
      return id;
    },
    call: (w, id) => w.client.call("StopContainer", { container_id: id, timeout: "5" }),
    retry: async (w, id) => {
      await w.client.call("StopContainer", { container_id: id, timeout: "5" });
      await waitState(w, id, "CONTAINER_EXITED");
      const { status } = await w.client.call("ContainerStatus", { container_id: id });
      // Exit 3 from the trap, or 137 when a retry's stop had to kill it.
      assert.ok([3, 137].includes(status!.exit_code), `exit code ${status!.exit_code}`);
    },
  });
});

Deno.test("SIGKILL during PullImage", opts, async () => {
  await runScenario<string>("PullImage", {
    prepare: async (w) => {
      const ref = w.registry.ref(BIG);
      await w.client.call("RemoveImage", { image: { image: ref } });
      return ref;
    },
    call: (w, ref) => w.client.call("PullImage", { image: { image: ref } }),
    retry: async (w, ref) => {
      // Either the image is complete or absent: never half there.
      const before = await w.client.call("ImageStatus", { image: { image: ref } });
      await w.client.call("PullImage", { image: { image: ref } });
      const after = await w.client.call("ImageStatus", { image: { image: ref } });
      assert.ok(after.image?.id.startsWith("sha256:"));
      if (before.image) assert.equal(before.image.id, after.image!.id);
      // Its layers are usable: a container from it sees the data.
      const pod = await w.pod("NODE");
      const id = await w.container(pod, "reader", {
        image: { image: ref },
        command: ["sleep", "1000"],
      });
      await w.client.call("StartContainer", { container_id: id });
      const r = await w.client.call("ExecSync", {
        container_id: id,
        cmd: ["sh", "-c", "wc -c < /data/blob3"],
      });
      assert.equal(new TextDecoder().decode(r.stdout).trim(), String(2 * 1024 * 1024));
    },
  }, { image: "big" });
});

Deno.test("SIGKILL during RemovePodSandbox", opts, async () => {
  await runScenario<Pod>("RemovePodSandbox", {
    prepare: async (w) => {
      await w.pullImage();
      const pod = await w.pod();
      const running = await w.container(pod, "running");
      await w.client.call("StartContainer", { container_id: running });
      await w.container(pod, "created");
      return pod;
    },
    call: (w, pod) => w.client.call("RemovePodSandbox", { pod_sandbox_id: pod.id }),
    retry: async (w, pod) => {
      await w.client.call("RemovePodSandbox", { pod_sandbox_id: pod.id });
      assert.equal(await podByUid(w, pod.config.metadata!.uid!), undefined);
      const { containers } = await w.client.call("ListContainers", {
        filter: { pod_sandbox_id: pod.id },
      });
      assert.deepEqual(containers, []);
    },
  });
});

Deno.test(
  "a start cut before conmon's FIFOs were opened leaves no launcher blocked after restart",
  opts,
  async () => {
    const w = await FaultWorld.create();
    try {
      await w.skiff.start();
      await w.pullImage();
      const id = await w.container(await w.pod(), "victim");
      // What a SIGKILL between spawning conmon's launcher and opening the FIFOs leaves (the
      // random kills above hit it about once in 25): the FIFOs, and a detached launcher
      // blocked opening them, forever, with the bundle in its command line.
      const bundle = `${w.skiff.stateDir}/containers/${id}`;
      for (const f of ["conmon-sync", "conmon-start"]) {
        const r = await new Deno.Command("mkfifo", { args: [`${bundle}/${f}`] }).output();
        assert.ok(r.success);
      }
      const launcher = new Deno.Command("/bin/bash", {
        args: [
          "-c",
          'exec 3>"$1" 4<"$2"; exec sleep 1000',
          "conmon-launch",
          `${bundle}/conmon-sync`,
          `${bundle}/conmon-start`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
        detached: true,
      }).spawn();
      await w.skiff.kill();
      await w.skiff.start();
      const status = await Promise.race([launcher.status, sleep(5000).then(() => null)]);
      assert.ok(status, "the blocked launcher survived the restart");
      assert.equal(status.signal, "SIGKILL");
      await assertConsistent(w.skiff, "after the restart");
      await w.client.call("StartContainer", { container_id: id });
      assert.equal(await containerState(w, id), "CONTAINER_RUNNING");
      await teardownThroughCri(w.skiff);
      await assertNoLeaks(w, "after an interrupted start");
    } finally {
      await w.dispose();
    }
  },
);
