/**
 * Shared parts of the fault suite: one Skiff (bridge network) plus a real registry with a
 * busybox image per test, pod and container configs whose cgroups live under a parent named
 * after the test (so leftovers can be found in /sys/fs/cgroup), consistency checks of what
 * a restarted Skiff reports, and a leak check that a full teardown left nothing behind.
 */
import assert from "node:assert/strict";
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig, PodSandboxConfig } from "../../cri/types.ts";
import { CriCallError } from "../../cri/client.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites, randomHex } from "../helpers/env.ts";
import { REGISTRY_BINARY, TestRegistry } from "../helpers/registry.ts";
import { pushBusyboxImage, type PushedImage } from "../helpers/oci_build.ts";
import { REQUIRED_BINARIES, snapshot } from "../sandbox/helpers.ts";

export { assert };

/** Reason to skip the fault suite on this machine, or null (printed loudly by env.ts). */
export function faultPrerequisitesMissing(): string | null {
  const missing = missingPrerequisites({
    root: true,
    binaries: [...REQUIRED_BINARIES, "runc", "conmon", "umount"],
  });
  if (missing) return missing;
  try {
    Deno.statSync(REGISTRY_BINARY);
    Deno.statSync("/bin/busybox");
    return null;
  } catch {
    const reason = `missing prerequisites: ${REGISTRY_BINARY} or /bin/busybox`;
    console.error(`\n!!! SKIPPING: ${reason} !!!\n`);
    return reason;
  }
}

/** Whether the heavy variants run (many iterations): `SKIFF_HEAVY_FAULTS=1`. */
export const HEAVY = Deno.env.get("SKIFF_HEAVY_FAULTS") === "1";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls `fn` and returns its CRI error (fails the test when it succeeds). */
export async function criFailure(p: Promise<unknown>): Promise<CriCallError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CriCallError) return err;
    throw err;
  }
  throw new Error("expected the CRI call to fail");
}

/**
 * One test's world: a registry with a busybox image, a Skiff on its own bridge, and a
 * cgroup parent named after the test for every pod it makes.
 */
export class FaultWorld {
  /** Pods get `cgroup_parent` = this (cgroupfs), so their cgroups are findable by name. */
  readonly cgroupParent = `/skiff-fault-${randomHex(10)}`;
  private podSeq = 0;

  private constructor(
    readonly skiff: TestSkiff,
    readonly registry: TestRegistry,
    readonly image: PushedImage,
  ) {}

  static async create(
    opts: { extraToml?: string; bridge?: boolean } = {},
  ): Promise<FaultWorld> {
    const registry = await TestRegistry.start();
    try {
      const image = await pushBusyboxImage(registry, "faults/busybox:1");
      const skiff = await TestSkiff.create({
        bridge: opts.bridge ?? true,
        extraToml: opts.extraToml,
      });
      return new FaultWorld(skiff, registry, image);
    } catch (err) {
      await registry.stop();
      throw err;
    }
  }

  get client() {
    return this.skiff.client;
  }

  podConfig(network: "POD" | "NODE" = "POD"): DeepPartial<PodSandboxConfig> {
    const n = ++this.podSeq;
    return {
      metadata: { name: `fpod${n}`, namespace: "faults", uid: crypto.randomUUID(), attempt: 0 },
      hostname: `fpod${n}`,
      log_directory: `${this.skiff.dir}/pod-logs/${n}`,
      labels: { suite: "faults" },
      linux: {
        cgroup_parent: this.cgroupParent,
        security_context: {
          namespace_options: { network, pid: "CONTAINER", ipc: "POD" },
        },
      },
    };
  }

  containerConfig(
    name: string,
    over: DeepPartial<ContainerConfig> = {},
  ): DeepPartial<ContainerConfig> {
    return {
      metadata: { name, attempt: 0 },
      image: { image: this.image.ref },
      command: ["sleep", "1000"],
      log_path: `${name}.log`,
      labels: { suite: "faults", name },
      ...over,
    };
  }

  /** A pod (ready) and the config it was made with. */
  async pod(
    network: "POD" | "NODE" = "POD",
  ): Promise<{ id: string; config: DeepPartial<PodSandboxConfig> }> {
    const config = this.podConfig(network);
    const { pod_sandbox_id: id } = await this.client.call("RunPodSandbox", { config });
    return { id, config };
  }

  async container(
    pod: { id: string; config: DeepPartial<PodSandboxConfig> },
    name: string,
    over: DeepPartial<ContainerConfig> = {},
  ): Promise<string> {
    const { container_id } = await this.client.call("CreateContainer", {
      pod_sandbox_id: pod.id,
      config: this.containerConfig(name, over),
      sandbox_config: pod.config,
    });
    return container_id;
  }

  async pullImage(): Promise<void> {
    await this.client.call("PullImage", { image: { image: this.image.ref } });
  }

  /** Removes everything: Skiff's pods and containers, the registry, the test's cgroups. */
  async dispose(): Promise<void> {
    try {
      await this.skiff.dispose();
    } finally {
      await this.registry.stop();
      removeCgroupTree(this.cgroupParent);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Consistency after a restart

function alive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * Every pod and container Skiff lists answers its status call, and the states are
 * coherent with the host: a ready pod's pinned namespaces exist, a running container's
 * process is alive, a container's pod is listed, nothing is listed twice.
 */
export async function assertConsistent(s: TestSkiff, context: string): Promise<void> {
  const { items: pods } = await s.client.call("ListPodSandbox", {});
  const podIds = new Set(pods.map((p) => p.id));
  assert.equal(podIds.size, pods.length, `${context}: a pod is listed twice`);
  for (const p of pods) {
    const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: p.id, verbose: true });
    assert.equal(st.status!.state, p.state, `${context}: pod ${p.id} list/status disagree`);
    const info = JSON.parse(st.info.info) as {
      namespaces: { net: string | null; ipc: string | null; uts: string | null };
    };
    if (p.state === "SANDBOX_READY") {
      for (const ns of Object.values(info.namespaces)) {
        if (ns) {
          assert.ok(
            Deno.statSync(ns).isFile,
            `${context}: ready pod ${p.id} lost its namespace file ${ns}`,
          );
        }
      }
      if (info.namespaces.net) {
        assert.notEqual(st.status!.network?.ip ?? "", "", `${context}: ready pod has no IP`);
      }
    }
  }
  const { containers } = await s.client.call("ListContainers", {});
  assert.equal(new Set(containers.map((c) => c.id)).size, containers.length);
  for (const c of containers) {
    assert.ok(podIds.has(c.pod_sandbox_id), `${context}: container ${c.id} has no listed pod`);
    const st = await s.client.call("ContainerStatus", { container_id: c.id, verbose: true });
    const status = st.status!;
    const info = JSON.parse(st.info.info) as { pid: number };
    if (status.state === "CONTAINER_RUNNING") {
      assert.ok(alive(info.pid), `${context}: running container ${c.id} has no process`);
      assert.ok(BigInt(status.started_at) > 0n);
    } else if (status.state === "CONTAINER_EXITED") {
      assert.ok(BigInt(status.finished_at) > 0n, `${context}: exited ${c.id} has no finish time`);
      assert.notEqual(status.reason, "", `${context}: exited ${c.id} has no reason`);
    } else if (status.state === "CONTAINER_UNKNOWN") {
      // Only a container that lost its conmon is UNKNOWN, and it says so.
      assert.match(status.message, /conmon/, `${context}: ${c.id} is UNKNOWN without a reason`);
    } else {
      assert.equal(status.state, "CONTAINER_CREATED", `${context}: ${c.id} is ${status.state}`);
    }
  }
}

/** Stops and removes every container and pod through CRI; every call must succeed. */
export async function teardownThroughCri(s: TestSkiff): Promise<void> {
  const { containers } = await s.client.call("ListContainers", {});
  for (const c of containers) {
    await s.client.call("StopContainer", { container_id: c.id, timeout: "0" });
    await s.client.call("RemoveContainer", { container_id: c.id });
  }
  const { items } = await s.client.call("ListPodSandbox", {});
  for (const p of items) {
    await s.client.call("StopPodSandbox", { pod_sandbox_id: p.id });
    await s.client.call("RemovePodSandbox", { pod_sandbox_id: p.id });
  }
  assert.deepEqual((await s.client.call("ListContainers", {})).containers, []);
  assert.deepEqual((await s.client.call("ListPodSandbox", {})).items, []);
}

// ---------------------------------------------------------------------------------------
// Leak check

function listTree(dir: string, prefix = ""): string[] {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) {
      const below = listTree(`${dir}/${e.name}`, `${rel}/`);
      out.push(...(below.length ? below : [`${rel}/`]));
    } else {
      out.push(rel);
    }
  }
  return out.sort();
}

/** Cgroup directories left under `parent` in every mounted hierarchy. */
export function cgroupLeftovers(parent: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  let hierarchies: Deno.DirEntry[] = [];
  try {
    hierarchies = [...Deno.readDirSync("/sys/fs/cgroup")];
  } catch {
    return out;
  }
  for (const h of hierarchies) {
    let real: string;
    try {
      real = Deno.realPathSync(`/sys/fs/cgroup/${h.name}`);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    try {
      for (const e of Deno.readDirSync(`${real}${parent}`)) {
        if (e.isDirectory) out.push(`${real}${parent}/${e.name}`);
      }
    } catch {
      // no such parent in this hierarchy
    }
  }
  return out.sort();
}

/** Removes the (empty) test cgroup parent directories runc created on the way. */
export function removeCgroupTree(parent: string): void {
  const remove = (dir: string) => {
    try {
      for (const e of Deno.readDirSync(dir)) if (e.isDirectory) remove(`${dir}/${e.name}`);
      Deno.removeSync(dir);
    } catch {
      // absent, or still busy: nothing more a test can do
    }
  };
  let hierarchies: Deno.DirEntry[] = [];
  try {
    hierarchies = [...Deno.readDirSync("/sys/fs/cgroup")];
  } catch {
    return;
  }
  for (const h of hierarchies) remove(`/sys/fs/cgroup/${h.name}${parent}`);
}

/** Files that may stay in Skiff's state dir with no pod or container at all. */
const STATE_SKELETON = new Set([
  "skiff.sock",
  "ns/",
  "sandboxes/",
  "containers/",
  "exits/",
  "attach/",
]);

/**
 * After a full teardown, asserts that nothing of the test's pods and containers is left:
 * mounts below the test dir (but the namespace dir's own bind mount), pinned namespace
 * files, veths on the test bridge, IPAM allocations, per-pod iptables rules, cgroups under
 * the test's parent, processes of the test's pods (conmon, runc, infra, CNI plugins), and
 * files in the state dir and in the root dir's container layers and pull temp dirs.
 */
export async function assertNoLeaks(
  w: FaultWorld,
  context: string,
  opts: { ownMounts?: string[] } = {},
): Promise<void> {
  const s = w.skiff;
  // conmon leaves a moment after its container is deleted; give stragglers that moment.
  let snap = await snapshot(s);
  for (let i = 0; i < 40 && snap.processes.length; i++) {
    await sleep(50);
    snap = await snapshot(s);
  }
  const mounts = snap.mounts.filter((m) =>
    m !== `${s.stateDir}/ns` && !(opts.ownMounts ?? []).includes(m)
  );
  assert.deepEqual(mounts, [], `${context}: mounts left`);
  assert.deepEqual(snap.nsFiles, [], `${context}: namespace files left`);
  assert.deepEqual(snap.links, [], `${context}: veths left on ${s.bridgeName}`);
  const ipam = snap.ipam.filter((f) => !/last_reserved_ip/.test(f));
  assert.deepEqual(ipam, [], `${context}: IPAM allocations left`);
  // Per-pod chains (CNI-<hash>) and the rules jumping to them; the bridge's own are shared.
  const perPod = snap.iptables.filter((r) => /CNI-[0-9a-f]{24}/.test(r));
  assert.deepEqual(perPod, [], `${context}: per-pod iptables rules left`);
  assert.deepEqual(snap.processes, [], `${context}: processes left`);
  assert.deepEqual(cgroupLeftovers(w.cgroupParent), [], `${context}: cgroups left`);
  const state = listTree(s.stateDir).filter((f) =>
    !STATE_SKELETON.has(f) && !f.startsWith("runtimes/") && !f.endsWith(".lock")
  );
  assert.deepEqual(state, [], `${context}: files left in the state dir`);
  // runc's state dirs of deleted containers are gone (the runtimes dir itself may stay).
  const runtimeStates = listTree(`${s.stateDir}/runtimes`).filter((f) => f.split("/").length > 2);
  assert.deepEqual(runtimeStates, [], `${context}: runtime state left`);
  assert.deepEqual(listTree(`${s.rootDir}/containers`), [], `${context}: container layers left`);
  assert.deepEqual(
    [
      ...listTree(`${s.rootDir}/image/content/ingest`),
      ...listTree(`${s.rootDir}/image/layers/tmp`),
    ],
    [],
    `${context}: pull temp files left`,
  );
  assert.deepEqual(
    listTree(`${s.rootDir}/cni/cache/results`),
    [],
    `${context}: CNI result cache left`,
  );
}
