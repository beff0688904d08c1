/**
 * Pods in their own user namespace (`hostUsers: false`) on a real Skiff with real runc and
 * conmon: root inside is uid 1000 on the node, the rootfs shows image owners through
 * idmapped layers, writes land as the pod's host IDs, volumes and the pod's files are usable
 * and owned by the pod's root, NODE mode keeps the host's map, every invalid option is
 * INVALID_ARGUMENT leaving nothing behind, and a SIGKILLed Skiff recovers the pod.
 */
import assert from "node:assert/strict";
import { CriCallError } from "../../cri/client.ts";
import type { DeepPartial } from "../../cri/handler.ts";
import type { PodSandboxConfig } from "../../cri/types.ts";
import { missingPrerequisites } from "../helpers/env.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { goClientMissing, runGoClient } from "../helpers/go/mod.ts";

const missing = missingPrerequisites({
  root: true,
  binaries: ["runc", "conmon", "unshare", "nsenter", "busybox"],
}) ?? registryPrerequisitesMissing();
if (missing) console.warn(`SKIPPING tests/userns: ${missing}`);
const ignore = missing !== null;

const MAP = { container_id: 0, host_id: 1000, length: 100000 };
let seq = 0;

function podConfig(
  userns: DeepPartial<NonNullable<PodSandboxConfig["linux"]>>["security_context"] = {},
  host: { network?: "POD" | "NODE"; pid?: "POD" | "CONTAINER" | "NODE" } = {},
): DeepPartial<PodSandboxConfig> {
  const n = ++seq;
  return {
    metadata: { name: `userns${n}`, namespace: "test", uid: `uid-${n}-${crypto.randomUUID()}` },
    hostname: `userns${n}`,
    log_directory: "/tmp",
    linux: {
      security_context: {
        ...userns,
        namespace_options: {
          network: host.network ?? "POD",
          pid: host.pid ?? "CONTAINER",
          ipc: "POD",
          ...userns?.namespace_options,
        },
      },
    },
  };
}

const podUserns = (uids = [MAP], gids = [MAP], mode: "POD" | "NODE" = "POD") =>
  ({ namespace_options: { userns_options: { mode, uids, gids } } }) as const;

async function exec(s: TestSkiff, id: string, cmd: string[]): Promise<string> {
  const r = await s.client.call("ExecSync", { container_id: id, cmd, timeout: "20" });
  const text = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  assert.equal(r.exit_code, 0, `${cmd.join(" ")} failed: ${text}`);
  return new TextDecoder().decode(r.stdout);
}

const words = (s: string) => s.trim().split(/\s+/).join(" ");

function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((m) => m.startsWith(dir + "/") && !m.endsWith("/state/ns"));
}

function hostUid(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
}

async function runContainer(
  s: TestSkiff,
  sandboxId: string,
  config: DeepPartial<PodSandboxConfig>,
  image: string,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const { container_id } = await s.client.call("CreateContainer", {
    pod_sandbox_id: sandboxId,
    config: {
      metadata: { name: `c${++seq}`, attempt: 0 },
      image: { image },
      command: ["sh", "-c", "echo started as $(id -u); exec sleep 3600"],
      log_path: `c${seq}.log`,
      linux: { security_context: config.linux?.security_context },
      ...extra,
    },
    sandbox_config: config,
  });
  await s.client.call("StartContainer", { container_id });
  return container_id;
}

Deno.test({
  name: "userns: a POD-mode pod runs as nobody on the node, root inside; recovers a SIGKILL",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    // The pod's root (uid 1000 on the node) must traverse to the rootfs under the state dir.
    await Deno.chmod(s.dir, 0o711);
    try {
      const img = await pushBusyboxImage(registry, "userns/busybox:1");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const volume = `${s.dir}/volume`;
      await Deno.mkdir(volume);
      await Deno.writeTextFile(`${volume}/from-host`, "hello\n");
      const termLog = `${s.dir}/termination-log`;
      await Deno.writeFile(termLog, new Uint8Array());
      const config = podConfig(podUserns(), { pid: "POD" });
      config.log_directory = `${s.dir}/logs`;
      config.linux!.sysctls = { "net.ipv4.ip_unprivileged_port_start": "80" };
      const sb = (await s.client.call("RunPodSandbox", { config })).pod_sandbox_id;
      const id = await runContainer(s, sb, config, img.ref, {
        linux: {
          security_context: {
            ...config.linux?.security_context,
            capabilities: { add_capabilities: ["NET_ADMIN", "SYS_ADMIN"] },
          },
        },
        mounts: [
          { container_path: "/data", host_path: volume },
          { container_path: "/dev/termination-log", host_path: termLog },
        ],
      });
      const status = await s.client.call("ContainerStatus", { container_id: id, verbose: true });
      const pid = (JSON.parse(status.info.info) as { pid: number }).pid;

      await t.step(
        "inside: uid_map 0 1000 100000, id 0, image owners, writable rootfs",
        async () => {
          assert.equal(words(await exec(s, id, ["cat", "/proc/self/uid_map"])), "0 1000 100000");
          assert.equal(words(await exec(s, id, ["cat", "/proc/self/gid_map"])), "0 1000 100000");
          assert.equal((await exec(s, id, ["id", "-u"])).trim(), "0");
          assert.equal((await exec(s, id, ["id", "-g"])).trim(), "0");
          const ls = await exec(s, id, ["ls", "-ln", "/"]);
          for (const d of ["bin", "etc", "tmp", "home"]) {
            const line = ls.split("\n").find((l) => l.endsWith(` ${d}`));
            assert.ok(line, `no /${d} in ${ls}`);
            assert.equal(line.split(/\s+/).slice(2, 4).join(":"), "0:0", line);
          }
          assert.equal(
            (await exec(s, id, ["stat", "-c", "%u:%g", "/home/app"])).trim(),
            "1000:1000",
          );
          await exec(s, id, ["sh", "-c", "echo x > /tmp/x"]);
          assert.equal((await exec(s, id, ["stat", "-c", "%u", "/tmp/x"])).trim(), "0");
        },
      );

      await t.step("on the host: the process is uid 1000, its file is 1000's in upper", () => {
        assert.equal(hostUid(pid), 1000);
        const upper = `${s.rootDir}/containers/${id}/upper`;
        const st = Deno.statSync(`${upper}/tmp/x`);
        assert.equal(st.uid, 1000);
        assert.equal(st.gid, 1000);
      });

      await t.step(
        "volume, pod files, /dev/shm, termination log: usable, owned by root",
        async () => {
          assert.equal((await exec(s, id, ["cat", "/data/from-host"])).trim(), "hello");
          assert.equal((await exec(s, id, ["stat", "-c", "%u", "/data/from-host"])).trim(), "0");
          await exec(s, id, ["sh", "-c", "echo back > /data/from-pod"]);
          assert.equal(Deno.readTextFileSync(`${volume}/from-pod`), "back\n");
          for (const f of ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev/shm"]) {
            assert.equal((await exec(s, id, ["stat", "-c", "%u", f])).trim(), "0", f);
          }
          assert.equal((await exec(s, id, ["hostname"])).trim(), config.hostname);
          await exec(s, id, ["sh", "-c", "echo shm > /dev/shm/x && cat /dev/shm/x"]);
          await exec(s, id, ["sh", "-c", "echo bye > /dev/termination-log"]);
          assert.equal(Deno.readTextFileSync(termLog), "bye\n");
        },
      );

      await t.step(
        "the pod's sysctls apply; its root may change its own network and hostname",
        async () => {
          await exec(s, id, ["ip", "link", "set", "lo", "mtu", "1400"]);
          assert.equal((await exec(s, id, ["cat", "/sys/class/net/lo/mtu"])).trim(), "1400");
          // The pod's sysctls were applied in its namespaces, owned by its user namespace.
          const port = await exec(s, id, ["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"]);
          assert.equal(port.trim(), "80");
          await exec(s, id, ["hostname", "renamed"]);
          assert.equal((await exec(s, id, ["hostname"])).trim(), "renamed");
          await exec(s, id, ["hostname", config.hostname!]);
        },
      );

      await t.step("logs and stats work as for any pod", async () => {
        const log = await Deno.readTextFile(status.status!.log_path);
        assert.match(log, /stdout F started as 0/);
        const stats = await s.client.call("ContainerStats", { container_id: id });
        assert.ok(Number(stats.stats!.memory?.working_set_bytes?.value ?? 0) > 0);
      });

      await t.step("attach: stdin and output of a container in the user namespace", async () => {
        const noGo = goClientMissing();
        if (noGo) {
          console.warn(`SKIPPING the userns attach step: ${noGo}`);
          return;
        }
        const talker = await runContainer(s, sb, config, img.ref, {
          command: ["sh", "-c", 'while read l; do echo "$(id -u): $l"; done; echo done'],
          stdin: true,
          stdin_once: true,
        });
        const { url } = await s.client.call("Attach", {
          container_id: talker,
          stdin: true,
          stdout: true,
          stderr: true,
        });
        const r = await runGoClient(
          "spdy-exec",
          url,
          ["-stdin", "-stdout", "-stderr", "-stdin-delay", "200ms"],
          "a\nb\n",
        );
        assert.equal(r.stdout, "0: a\n0: b\ndone\n", JSON.stringify(r));
      });

      await t.step("checkpoint is refused as for any pod on this node, not INTERNAL", async () => {
        const err = await s.client.call("CheckpointContainer", {
          container_id: id,
          location: `${s.dir}/checkpoint.tar`,
        }).then(() => null, (e) => e);
        // With CRIU absent (or unusable) every pod's checkpoint is FAILED_PRECONDITION.
        if (err) assert.equal(err.codeName, "FAILED_PRECONDITION", err.message);
        else console.warn("CRIU is present: a user-namespaced pod was checkpointed");
        const c = await s.client.call("ContainerStatus", { container_id: id });
        assert.equal(c.status!.state, "CONTAINER_RUNNING");
      });

      await t.step(
        "SIGKILL of Skiff: the pod and container recover, still in the userns",
        async () => {
          await s.kill();
          await s.start();
          const pod = await s.client.call("PodSandboxStatus", { pod_sandbox_id: sb });
          assert.equal(pod.status!.state, "SANDBOX_READY");
          const c = await s.client.call("ContainerStatus", { container_id: id });
          assert.equal(c.status!.state, "CONTAINER_RUNNING");
          assert.equal(words(await exec(s, id, ["cat", "/proc/self/uid_map"])), "0 1000 100000");
          assert.equal(hostUid(pid), 1000);
          // A second container of the recovered pod shares its user namespace.
          const id2 = await runContainer(s, sb, config, img.ref);
          assert.equal(words(await exec(s, id2, ["cat", "/proc/self/uid_map"])), "0 1000 100000");
          const ns1 = Deno.readLinkSync(`/proc/${pid}/ns/user`);
          const st2 = await s.client.call("ContainerStatus", { container_id: id2, verbose: true });
          const pid2 = (JSON.parse(st2.info.info) as { pid: number }).pid;
          assert.equal(Deno.readLinkSync(`/proc/${pid2}/ns/user`), ns1);
        },
      );

      await t.step("removal leaves no mount, pinned namespace or dir", async () => {
        await s.client.call("StopPodSandbox", { pod_sandbox_id: sb });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: sb });
        assert.deepEqual(mountsUnder(s.dir), []);
        assert.deepEqual([...Deno.readDirSync(`${s.stateDir}/ns`)].map((e) => e.name), []);
        assert.deepEqual([...Deno.readDirSync(`${s.rootDir}/containers`)].map((e) => e.name), []);
      });
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});

Deno.test({
  name: "userns: NODE mode keeps the host's map; invalid options are refused, nothing left",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    // The pod's root (uid 1000 on the node) must traverse to the rootfs under the state dir.
    await Deno.chmod(s.dir, 0o711);
    try {
      const img = await pushBusyboxImage(registry, "userns/busybox:1");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });

      await t.step("Status reports user_namespaces for runc, with the reason map", async () => {
        const st = await s.client.call("Status", { verbose: true });
        const runc = st.runtime_handlers.find((h) => h.name === "runc");
        assert.equal(runc?.features?.user_namespaces, true, st.info.userNamespaces);
        assert.deepEqual(JSON.parse(st.info.userNamespaces).runc, { supported: true, reason: "" });
      });

      await t.step("NODE: the container's uid_map is the host's", async () => {
        const config = podConfig(podUserns([], [], "NODE"));
        const sb = (await s.client.call("RunPodSandbox", { config })).pod_sandbox_id;
        const id = await runContainer(s, sb, config, img.ref);
        const host = words(Deno.readTextFileSync("/proc/self/uid_map"));
        assert.equal(words(await exec(s, id, ["cat", "/proc/self/uid_map"])), host);
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: sb });
      });

      await t.step("every invalid option is INVALID_ARGUMENT and leaves nothing", async () => {
        const m = (container_id: number, host_id: number, length: number) => ({
          container_id,
          host_id,
          length,
        });
        const cases: [DeepPartial<PodSandboxConfig>, RegExp][] = [
          [
            podConfig({ namespace_options: { userns_options: { mode: "CONTAINER" } } }),
            /CONTAINER/,
          ],
          [podConfig({ namespace_options: { userns_options: { mode: "TARGET" } } }), /TARGET/],
          [podConfig(podUserns([MAP, m(100000, 200000, 10)])), /exactly one uid mapping/],
          [podConfig(podUserns([MAP], [MAP, m(100000, 200000, 10)])), /exactly one gid mapping/],
          [podConfig(podUserns([m(1, 1000, 100)])), /container uid 0 unmapped/],
          [podConfig(podUserns([MAP], [m(0, 1000, 0)])), /length 0/],
          [podConfig(podUserns([m(0, 0, 100)])), /overlaps the host's root/],
          [podConfig(podUserns(), { network: "NODE" }), /host's network/],
        ];
        for (const [config, msg] of cases) {
          const err = await s.client.call("RunPodSandbox", { config }).catch((e) => e);
          assert.ok(err instanceof CriCallError, `not refused: ${JSON.stringify(config)}`);
          assert.equal(err.codeName, "INVALID_ARGUMENT", err.message);
          assert.match(err.details, msg);
          assert.ok(!err.details.includes(s.dir), err.details);
        }
        // Another pod's range may not overlap a live pod's.
        const a = (await s.client.call("RunPodSandbox", { config: podConfig(podUserns()) }))
          .pod_sandbox_id;
        const overlap = podConfig(podUserns([m(0, 50000, 65536)], [m(0, 50000, 65536)]));
        const err = await s.client.call("RunPodSandbox", { config: overlap }).catch((e) => e);
        assert.equal(err.codeName, "INVALID_ARGUMENT", err.message);
        assert.match(err.details, /overlaps the host range of another pod/);
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: a });
        assert.deepEqual(mountsUnder(s.dir), []);
        const left = (d: string) => [...Deno.readDirSync(d)].map((e) => e.name);
        assert.deepEqual(left(`${s.stateDir}/ns`), []);
        assert.deepEqual(left(`${s.stateDir}/sandboxes`), []);
        const pods = await s.client.call("ListPodSandbox", {});
        assert.deepEqual(pods.items, []);
      });
    } finally {
      await s.dispose();
      await registry.stop();
    }
  },
});
