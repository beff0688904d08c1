/**
 * What the kubelet suite reads back: kubelet's log and /stats/summary, and the host traces of
 * a pod (netns file, host veth, IP allocation, conmon processes, mounts, cgroups) to show a
 * deleted pod left none of them.
 */
import assert from "node:assert/strict";
import type { TestSkiff } from "../helpers/skiff.ts";
import { cmd, verboseInfo } from "../sandbox/helpers.ts";
import { type TestKubelet, until } from "./kubelet.ts";

/**
 * kubelet's own lines that are not about the runtime: this host (no CAP_SYS_RESOURCE), its
 * start-up before the first PLEG relist, and the eviction manager's cAdvisor label lookup
 * that succeeds only for CRI-O's socket name (containerd nodes log it too).
 */
const NOT_THE_RUNTIME = [
  /Failed to set rlimit on max file handles/,
  /Failed to ensure process in container with oom score/,
  /failed to check if we have separate container filesystem.*no imagefs label for configured runtime/,
];

/** kubelet's sync loop waiting for its own first runtime status check and PLEG relist. */
const STARTING = [
  "container runtime status check may not have completed yet",
  "PLEG is not healthy: pleg has yet to be successful",
];

function startingUp(line: string): boolean {
  const err = line.match(/"Skipping pod synchronization" err="(.*)"$/)?.[1];
  if (err === undefined) return false;
  return STARTING.reduce((rest, s) => rest.replaceAll(s, ""), err).replace(/[[\], ]/g, "") === "";
}

/**
 * A ContainerStatus NotFound for a container this Skiff never made: cAdvisor watches every
 * cgroup on the node, so containers of another runtime on the same machine (another Skiff,
 * containerd) reach kubelet's stats provider, which asks this runtime about them.
 */
function foreignContainer(line: string, isOurs: (id: string) => boolean): boolean {
  const m = line.match(
    /"ContainerStatus from runtime service failed".*code = NotFound.*containerID="([0-9a-f]{64})"/,
  );
  return m !== null && !isOurs(m[1]);
}

/**
 * kubelet error lines (klog `E…`), less those that are not about the runtime; `isOurs`
 * says whether a container ID is one this Skiff made (default: every one).
 */
export function kubeletErrorLines(
  log: string,
  isOurs: (id: string) => boolean = () => true,
): string[] {
  return log.split("\n").filter((l) =>
    /^E\d{4} /.test(l) && !NOT_THE_RUNTIME.some((h) => h.test(l)) && !startingUp(l) &&
    !foreignContainer(l, isOurs)
  );
}

interface Interface {
  name: string;
  rxBytes?: number;
  txBytes?: number;
}

interface Usage {
  cpu?: { usageCoreNanoSeconds?: number; usageNanoCores?: number };
  memory?: { workingSetBytes?: number };
}

export interface SummaryPod extends Usage {
  podRef: { name: string; namespace: string; uid: string };
  network?: Interface & { interfaces?: Interface[] };
  containers: (Usage & { name: string })[];
}

export interface Summary {
  node: {
    runtime?: {
      imageFs?: { usedBytes?: number; capacityBytes?: number; availableBytes?: number };
      containerFs?: { usedBytes?: number };
    };
  };
  pods?: SummaryPod[];
}

export function summaryPod(s: Summary, name: string): SummaryPod | undefined {
  return s.pods?.find((p) => p.podRef.name === name);
}

/** Running containers of the runtime named one of `names`, and their PIDs. */
export async function runtimeContainers(
  s: TestSkiff,
  names: string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const list = await s.client.call("ListContainers", {
    filter: { state: { state: "CONTAINER_RUNNING" } },
  });
  for (const c of list.containers.filter((c) => names.includes(c.metadata?.name ?? ""))) {
    const st = await s.client.call("ContainerStatus", { container_id: c.id, verbose: true });
    out.set(c.id, (JSON.parse(st.info.info) as { pid: number }).pid);
  }
  return out;
}

export interface PodTraces {
  uid: string;
  sandboxIds: string[];
  containerIds: string[];
  netns: string;
  ips: string[];
  hostVeth: string;
  conmonPids: number[];
}

/** Everything a running pod holds on the host, found through Skiff and the pod's netns. */
export async function podTraces(s: TestSkiff, k: TestKubelet, name: string): Promise<PodTraces> {
  const uid = (await k.pod(name))!.metadata.uid;
  const sandboxes = (await s.client.call("ListPodSandbox", {
    filter: { label_selector: { "io.kubernetes.pod.uid": uid } },
  })).items;
  assert.equal(sandboxes.length, 1, `one sandbox for ${name}`);
  const sandboxId = sandboxes[0].id;
  const containerIds = (await s.client.call("ListContainers", {
    filter: { pod_sandbox_id: sandboxId },
  })).containers.map((c) => c.id);
  const info = await verboseInfo(s, sandboxId);
  const conmonPids: number[] = [];
  for (const id of containerIds) {
    const st = await s.client.call("ContainerStatus", { container_id: id, verbose: true });
    conmonPids.push((JSON.parse(st.info.info) as { conmonPid: number }).conmonPid);
  }
  const netns = info.namespaces.net!;
  // The pod side is `eth0@ifN`: N is the host end's index.
  const inPod =
    (await cmd(["nsenter", `--net=${netns}`, "ip", "-o", "link", "show", "eth0"])).stdout;
  const peer = inPod.match(/eth0@if(\d+)/)?.[1];
  assert.ok(peer, `eth0 of ${name} has a peer: ${inPod}`);
  const host = (await cmd(["ip", "-o", "link"])).stdout.split("\n")
    .find((l) => l.startsWith(`${peer}: `));
  const hostVeth = host?.split(":")[1].trim().split("@")[0] ?? "";
  assert.ok(hostVeth, `host end of ${name}'s veth`);
  return {
    uid,
    sandboxIds: [sandboxId],
    containerIds,
    netns,
    ips: info.ips,
    hostVeth,
    conmonPids,
  };
}

async function exists(p: string): Promise<boolean> {
  return await Deno.lstat(p).then(() => true, () => false);
}

async function findDirs(root: string, match: (name: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  for (const e of await Array.fromAsync(Deno.readDir(root)).catch(() => [])) {
    if (!e.isDirectory) continue;
    const p = `${root}/${e.name}`;
    if (match(e.name)) out.push(p);
    out.push(...await findDirs(p, match));
  }
  return out;
}

/** What of a pod the host holds right now. */
export interface HostHold {
  netns: boolean;
  hostVeth: boolean;
  ipFiles: string[];
  conmons: number[];
  mounts: string[];
  cgroups: string[];
}

export async function hostHold(s: TestSkiff, k: TestKubelet, t: PodTraces): Promise<HostHold> {
  const links = (await cmd(["ip", "-o", "link"])).stdout;
  const ipamDirs = [
    `${s.rootDir}/cni/networks`,
    ...await findDirs(`${s.rootDir}/cni/networks`, () => true),
  ];
  const ipFiles: string[] = [];
  for (const ip of t.ips) {
    for (const d of ipamDirs) if (await exists(`${d}/${ip}`)) ipFiles.push(`${d}/${ip}`);
  }
  const conmons: number[] = [];
  for (const pid of t.conmonPids) {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`).catch(() => "");
    if (t.containerIds.some((id) => cmdline.includes(id))) conmons.push(pid);
  }
  const ids = [...t.sandboxIds, ...t.containerIds];
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .filter((l) => ids.some((id) => l.includes(id)));
  const cgroups: string[] = [];
  for (const e of await Array.fromAsync(Deno.readDir("/sys/fs/cgroup"))) {
    if (!e.isDirectory) continue;
    cgroups.push(
      ...await findDirs(
        `/sys/fs/cgroup/${e.name}${k.cgroupRoot}`,
        (n) => n.includes(t.uid) || ids.some((id) => n.includes(id)),
      ),
    );
  }
  return {
    netns: await exists(t.netns),
    hostVeth: links.includes(` ${t.hostVeth}@`),
    ipFiles,
    conmons,
    mounts,
    cgroups,
  };
}

/** Waits for kubelet to remove the pod's sandbox, then checks the host holds none of it. */
export async function assertPodLeftNothing(
  s: TestSkiff,
  k: TestKubelet,
  t: PodTraces,
): Promise<void> {
  // Removal follows on kubelet's garbage-collection cycle (once a minute).
  await until(
    "kubelet removed the pod's sandbox",
    async () => {
      const left = (await s.client.call("ListPodSandbox", {
        filter: { label_selector: { "io.kubernetes.pod.uid": t.uid } },
      })).items;
      return left.length === 0;
    },
    150_000,
    1000,
  );
  assert.deepEqual(await hostHold(s, k, t), {
    netns: false,
    hostVeth: false,
    ipFiles: [],
    conmons: [],
    mounts: [],
    cgroups: [],
  });
}
