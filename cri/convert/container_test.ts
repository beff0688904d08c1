import assert from "node:assert/strict";
import type { ContainerRecord } from "../../runtime/container/mod.ts";
import {
  containerEntry,
  containerStatus,
  containerVerboseInfo,
  stopSignalName,
} from "./container.ts";

const T0 = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

function record(over: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id: "c1",
    sandboxId: "p1",
    name: "app",
    attempt: 3,
    state: "CONTAINER_EXITED",
    createdAt: T0,
    startedAt: T0 + 1000,
    finishedAt: T0 + 2500,
    exitCode: 137,
    reason: "OOMKilled",
    message: "out of memory",
    image: {
      image: "busybox:latest",
      annotations: {},
      user_specified_image: "busybox",
      runtime_handler: "",
      image_ref: "",
    },
    imageRef: "docker.io/library/busybox@sha256:ab",
    imageId: "sha256:cd",
    layerDirs: [],
    labels: { l: "1" },
    annotations: { a: "2" },
    mounts: [],
    logPath: "/var/log/pods/p/app/3.log",
    resources: null,
    user: { uid: 1000, gid: 1000, additionalGids: [5, 6] },
    stopSignal: "SIGTERM",
    tty: false,
    stdin: false,
    stdinOnce: false,
    runtimeHandler: "runc",
    runtimeBinary: "/usr/bin/runc",
    runtimeRoot: "/run/skiff/runc",
    runtimeOptions: [],
    pid: 4242,
    conmonPid: 4241,
    bundleDir: "/run/skiff/c1",
    upperDir: "/u",
    workDir: "/w",
    ...over,
  };
}

Deno.test("containerStatus: what kubelet reads of an exited container", () => {
  const s = containerStatus(record());
  assert.equal(s.id, "c1");
  assert.deepEqual(s.metadata, { name: "app", attempt: 3 });
  assert.equal(s.state, "CONTAINER_EXITED");
  assert.equal(s.created_at, "1704164645678000000");
  assert.equal(s.started_at, "1704164646678000000");
  assert.equal(s.finished_at, "1704164648178000000");
  assert.equal(s.exit_code, 137);
  assert.equal(s.reason, "OOMKilled");
  assert.equal(s.message, "out of memory");
  assert.equal(s.image_ref, "docker.io/library/busybox@sha256:ab");
  assert.equal(s.image_id, "sha256:cd");
  assert.equal(s.log_path, "/var/log/pods/p/app/3.log");
  assert.equal(s.resources, null);
  assert.deepEqual(s.user, {
    linux: { uid: "1000", gid: "1000", supplemental_groups: ["5", "6"] },
  });
  assert.equal(s.stop_signal, "SIGTERM");
});

Deno.test("containerStatus: times not yet reached are 0, resources under linux", () => {
  const resources = {
    cpu_period: "100000",
    cpu_quota: "50000",
    cpu_shares: "512",
    memory_limit_in_bytes: "0",
    oom_score_adj: "0",
    cpuset_cpus: "",
    cpuset_mems: "",
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: "0",
  };
  const s = containerStatus(
    record({ state: "CONTAINER_CREATED", startedAt: 0, finishedAt: 0, exitCode: 0, resources }),
  );
  assert.equal(s.state, "CONTAINER_CREATED");
  assert.equal(s.started_at, "0");
  assert.equal(s.finished_at, "0");
  assert.deepEqual(s.resources, { linux: resources });
});

Deno.test("stopSignalName: signal names pass, anything else is the runtime default", () => {
  assert.equal(stopSignalName("SIGKILL"), "SIGKILL");
  assert.equal(stopSignalName("SIGRTMINPLUS1"), "SIGRTMINPLUS1");
  assert.equal(stopSignalName(""), "RUNTIME_DEFAULT");
  assert.equal(stopSignalName("15"), "RUNTIME_DEFAULT");
});

Deno.test("containerEntry: the list entry (no image-volume digest in its image spec)", () => {
  const r = record();
  r.image = { ...r.image, image_ref: "sha256:cd" };
  assert.deepEqual(containerEntry(r), {
    id: "c1",
    pod_sandbox_id: "p1",
    metadata: { name: "app", attempt: 3 },
    image: {
      image: "busybox:latest",
      annotations: {},
      user_specified_image: "busybox",
      runtime_handler: "",
    },
    image_ref: "docker.io/library/busybox@sha256:ab",
    image_id: "sha256:cd",
    state: "CONTAINER_EXITED",
    created_at: "1704164645678000000",
    labels: { l: "1" },
    annotations: { a: "2" },
  });
});

Deno.test("containerVerboseInfo: pid only while running", () => {
  const exited = JSON.parse(containerVerboseInfo(record(), { ociVersion: "1.0" }));
  assert.equal(exited.pid, 0);
  assert.equal(exited.sandboxID, "p1");
  assert.deepEqual(exited.runtimeSpec, { ociVersion: "1.0" });
  const running = JSON.parse(containerVerboseInfo(record({ state: "CONTAINER_RUNNING" }), null));
  assert.equal(running.pid, 4242);
});
