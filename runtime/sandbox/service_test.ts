/**
 * The service publishes its own lifecycle events and reaches its pod's containers only
 * through the lazily resolved dependency. Records without namespaces, network or infra
 * process, so nothing here needs root.
 */
import assert from "node:assert/strict";
import { defaultConfig } from "../../core/config/mod.ts";
import { Store } from "../../store/mod.ts";
import type { ContainerEvent, PodContainers } from "../contracts.ts";
import type { SandboxRecord } from "./records.ts";
import { SandboxService } from "./service.ts";

interface Fixture {
  service: SandboxService;
  events: ContainerEvent[];
  calls: string[];
  put(id: string, phase: SandboxRecord["phase"]): void;
  dispose(): void;
}

function fixture(): Fixture {
  const dir = Deno.makeTempDirSync({ prefix: "skiff-sandbox-service-" });
  const config = { ...defaultConfig(), state_dir: `${dir}/state`, root_dir: `${dir}/root` };
  const store = new Store(`${dir}/db.sqlite`);
  const events: ContainerEvent[] = [];
  const calls: string[] = [];
  let containers: PodContainers | null = null;
  const service = new SandboxService({
    config,
    store,
    events: { publish: (e) => events.push(e) },
    // As in daemon.ts: the container service does not exist yet when this is built.
    podContainers: () => {
      if (!containers) throw new Error("containers asked for too early");
      return containers;
    },
  });
  containers = {
    stopPodContainers: async (id, timeout) => void calls.push(`stop ${id} ${timeout}`),
    removePodContainers: async (id) => void calls.push(`remove ${id}`),
  };
  const records = store.collection<SandboxRecord>("sandboxes");
  const put = (id: string, phase: SandboxRecord["phase"]) =>
    records.put(id, {
      id,
      name: id,
      namespace: "ns",
      uid: `uid-${id}`,
      attempt: 0,
      phase,
      createdAt: 0,
      runtimeHandler: "runc",
      config: { hostname: "", log_directory: "", port_mappings: [], labels: {}, annotations: {} },
      namespaceModes: { network: "NODE", pid: "CONTAINER", ipc: "NODE" },
      hostname: "node",
      dir: `${dir}/state/sandboxes/${id}`,
      ns: { net: null, ipc: null, uts: null },
      shmPath: null,
      resolvConfPath: "",
      hostsPath: "",
      hostnamePath: "",
      cgroupParent: "",
      logDirectory: "",
      sysctls: {},
      network: null,
      networkSource: "",
      networkAttached: false,
      capabilityArgs: {},
      ips: [],
      infra: null,
    });
  return {
    service,
    events,
    calls,
    put,
    dispose: () => {
      store.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

const types = (evs: ContainerEvent[], id: string) =>
  evs.filter((e) => e.containerId === id && e.sandboxId === id).map((e) => e.type);

Deno.test("stop publishes STOPPED once, after the pod's containers are stopped", async () => {
  const f = fixture();
  try {
    f.put("aaa1", "ready");
    await f.service.stop("aaa");
    await f.service.stop("aaa1");
    assert.deepEqual(f.calls, ["stop aaa1 0", "stop aaa1 0"]);
    assert.deepEqual(types(f.events, "aaa1"), ["CONTAINER_STOPPED_EVENT"]);
    assert.equal(f.service.status("aaa1").phase, "notready");
  } finally {
    f.dispose();
  }
});

Deno.test("remove of a ready pod publishes STOPPED then DELETED; of a stopped one DELETED", async () => {
  const f = fixture();
  try {
    f.put("bbb1", "ready");
    f.put("ccc1", "notready");
    await f.service.remove("bbb1");
    await f.service.remove("ccc1");
    await f.service.remove("ccc1"); // unknown now: succeeds, says nothing
    assert.deepEqual(f.calls, ["remove bbb1", "remove ccc1"]);
    assert.deepEqual(types(f.events, "bbb1"), [
      "CONTAINER_STOPPED_EVENT",
      "CONTAINER_DELETED_EVENT",
    ]);
    assert.deepEqual(types(f.events, "ccc1"), ["CONTAINER_DELETED_EVENT"]);
    assert.equal(f.service.find("bbb1"), undefined);
  } finally {
    f.dispose();
  }
});

Deno.test("a half-made sandbox is invisible: stop ignores it, its removal raises nothing", async () => {
  const f = fixture();
  try {
    f.put("ddd1", "creating");
    assert.equal(f.service.getSandbox("ddd1"), undefined);
    assert.deepEqual(f.service.list(), []);
    assert.throws(() => f.service.status("ddd1"), /not found/);
    await f.service.stop("ddd1");
    assert.deepEqual(f.calls, []);
    await f.service.remove("ddd1");
    assert.deepEqual(f.events, []);
    assert.equal(f.service.find("ddd1"), undefined);
  } finally {
    f.dispose();
  }
});

Deno.test("recovery needs no containers and raises no events", async () => {
  const f = fixture();
  try {
    f.put("eee1", "ready");
    f.put("fff1", "creating");
    await f.service.recover();
    await f.service.recoveryCheck;
    assert.deepEqual(f.events, []);
    assert.deepEqual(f.calls, []);
    assert.equal(f.service.status("eee1").phase, "ready");
    assert.equal(f.service.find("fff1"), undefined);
  } finally {
    f.dispose();
  }
});
