/**
 * Pod sandbox lifecycle on real namespaces and real CNI plugins, each test on its own
 * bridge and subnet: networking between pods, host network, DNS, hostname, shm, infra
 * process, status/list/stream filters, idempotent stop/remove.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { freePort, missingPrerequisites, uniqueSubnet } from "../helpers/env.ts";
import { CriCallError } from "../../cri/client.ts";
import {
  cleanupSkiff,
  cmd,
  inPod,
  podConfig,
  REQUIRED_BINARIES,
  snapshot,
  verboseInfo,
} from "./helpers.ts";

const ignore = missingPrerequisites({ root: true, binaries: REQUIRED_BINARIES }) !== null;

async function withSkiff(fn: (s: TestSkiff) => Promise<void>): Promise<void> {
  const s = await TestSkiff.create({ bridge: true });
  try {
    await s.start();
    await fn(s);
  } finally {
    await cleanupSkiff(s);
  }
}

Deno.test({
  name: "two pods get distinct IPs on the test bridge and reach each other",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const a = await s.client.call("RunPodSandbox", { config: podConfig() });
      const b = await s.client.call("RunPodSandbox", { config: podConfig() });
      const sa = await s.client.call("PodSandboxStatus", { pod_sandbox_id: a.pod_sandbox_id });
      const sb = await s.client.call("PodSandboxStatus", { pod_sandbox_id: b.pod_sandbox_id });
      const ipA = sa.status!.network!.ip;
      const ipB = sb.status!.network!.ip;
      const prefix = s.subnet.replace(/0\/24$/, "");
      assert(ipA.startsWith(prefix), `${ipA} not in ${s.subnet}`);
      assert(ipB.startsWith(prefix), `${ipB} not in ${s.subnet}`);
      assert.notEqual(ipA, ipB);
      assert.equal(sa.status!.state, "SANDBOX_READY");
      const va = await verboseInfo(s, a.pod_sandbox_id);
      const vb = await verboseInfo(s, b.pod_sandbox_id);
      const ping = await inPod(va.namespaces, ["busybox", "ping", "-c", "1", "-W", "2", ipB]);
      assert.equal(ping.code, 0, ping.stdout + ping.stderr);
      const back = await inPod(vb.namespaces, ["busybox", "ping", "-c", "1", "-W", "2", ipA]);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      // lo is up inside the pod (the loopback plugin ran).
      const lo = await inPod(va.namespaces, ["busybox", "ping", "-c", "1", "-W", "2", "127.0.0.1"]);
      assert.equal(lo.code, 0, lo.stdout + lo.stderr);
      for (const id of [a.pod_sandbox_id, b.pod_sandbox_id]) {
        await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
        await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      }
    }),
});

Deno.test({
  name: "host-network pod uses the host's network, hostname and hosts file",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", {
        config: podConfig({
          linux: {
            security_context: {
              namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
            },
          },
        }),
      });
      const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
      assert.equal(st.status!.state, "SANDBOX_READY");
      assert.equal(st.status!.linux!.namespaces!.options!.network, "NODE");
      const v = await verboseInfo(s, id);
      assert.equal(v.namespaces.net, null);
      assert.equal(v.namespaces.uts, null);
      assert.notEqual(v.namespaces.ipc, null);
      assert.equal((await Deno.readTextFile(v.hostnamePath)).trim(), Deno.hostname());
      assert.equal(await Deno.readTextFile(v.hostsPath), await Deno.readTextFile("/etc/hosts"));
      await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
    }),
});

Deno.test({
  name: "DNS config, hostname, /dev/shm and sysctls land in the pod",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", {
        config: podConfig({
          hostname: "web-0",
          dns_config: {
            servers: ["10.96.0.10", "10.96.0.11"],
            searches: ["default.svc.cluster.local", "svc.cluster.local"],
            options: ["ndots:5", "timeout:1"],
          },
          linux: {
            sysctls: { "net.ipv4.ip_unprivileged_port_start": "0", "kernel.shmmni": "1000" },
          },
        }),
      });
      const v = await verboseInfo(s, id);
      assert.equal(
        await Deno.readTextFile(v.resolvConfPath),
        "search default.svc.cluster.local svc.cluster.local\n" +
          "nameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 timeout:1\n",
      );
      assert.equal((await Deno.readTextFile(v.hostnamePath)).trim(), "web-0");
      const hn = await inPod({ uts: v.namespaces.uts }, ["hostname"]);
      assert.equal(hn.stdout.trim(), "web-0");
      assert.match(await Deno.readTextFile(v.hostsPath), new RegExp(`${v.ips[0]}\\tweb-0`));
      const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
      const shm = mountinfo.split("\n").find((l) => l.split(" ")[4] === v.shmPath);
      assert.ok(shm?.includes(" - tmpfs "), `no tmpfs at ${v.shmPath}`);
      const netSysctl = await inPod(v.namespaces, [
        "sysctl",
        "-n",
        "net.ipv4.ip_unprivileged_port_start",
      ]);
      assert.equal(netSysctl.stdout.trim(), "0");
      const ipc = await cmd([
        "nsenter",
        `--ipc=${v.namespaces.ipc}`,
        "--",
        "sysctl",
        "-n",
        "kernel.shmmni",
      ]);
      assert.equal(ipc.stdout.trim(), "1000");
      // The host's own values are untouched.
      assert.notEqual(
        (await cmd(["sysctl", "-n", "net.ipv4.ip_unprivileged_port_start"])).stdout.trim(),
        "0",
      );
      await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      assert.equal(await Deno.stat(v.resolvConfPath).catch(() => null), null);
    }),
});

Deno.test({
  name: "a shared PID namespace gets an infra process in the pod's namespaces; stop ends it",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", {
        config: podConfig({ pid: "POD" }),
      });
      const v = await verboseInfo(s, id);
      assert.ok(v.pid > 0, "no infra pid");
      const link = (p: string) => Deno.readLinkSync(p);
      assert.notEqual(link(`/proc/${v.pid}/ns/pid`), link("/proc/self/ns/pid"));
      // No mount namespace of its own (it would pin copies of other pods' mounts).
      assert.equal(link(`/proc/${v.pid}/ns/mnt`), link("/proc/self/ns/mnt"));
      assert.equal(link(`/proc/${v.pid}/ns/net`), link(`/proc/${v.pid}/ns/net`));
      // The infra process sits in the pinned network namespace.
      const pinnedNet = await inPod({ net: v.namespaces.net }, ["readlink", "/proc/self/ns/net"]);
      assert.equal(pinnedNet.stdout.trim(), link(`/proc/${v.pid}/ns/net`));
      assert.equal(v.pidNamespace, `/proc/${v.pid}/ns/pid`);
      // It holds none of Skiff's descriptors (the CRI socket would stay "served" after a
      // crash otherwise).
      const fds = [...Deno.readDirSync(`/proc/${v.pid}/fd`)].map((e) => Number(e.name));
      assert.deepEqual(fds.filter((n) => n > 2), []);
      // The leak check's process scan sees it (so it would see a leaked one).
      assert.ok((await snapshot(s)).processes.some((p) => p.startsWith(`${v.pid}:`)));
      await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
      const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
      assert.equal(st.status!.state, "SANDBOX_NOTREADY");
      assert.equal(st.status!.network!.ip, "");
      const stat = await Deno.readTextFile(`/proc/${v.pid}/stat`).catch(() => "");
      assert.ok(stat === "" || / Z /.test(stat), "infra process still running after stop");
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
    }),
});

Deno.test({
  name: "status, list and stream filters; stop and remove are idempotent",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const a = (await s.client.call("RunPodSandbox", {
        config: podConfig({ labels: { app: "web", tier: "front" }, annotations: { x: "1" } }),
      })).pod_sandbox_id;
      const b = (await s.client.call("RunPodSandbox", {
        config: podConfig({ labels: { app: "db" } }),
      })).pod_sandbox_id;
      const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: a.slice(0, 12) });
      assert.equal(st.status!.id, a);
      assert.deepEqual(st.status!.annotations, { x: "1" });
      assert.equal(st.status!.runtime_handler, "runc");
      const created = BigInt(st.status!.created_at);
      assert.ok(created > BigInt(Date.now() - 60000) * 1000000n, "created_at is not in ns");

      const ids = async (filter: Record<string, unknown>) =>
        (await s.client.call("ListPodSandbox", { filter })).items.map((i) => i.id).sort();
      assert.deepEqual(await ids({}), [a, b].sort());
      assert.deepEqual(await ids({ label_selector: { app: "web" } }), [a]);
      assert.deepEqual(await ids({ label_selector: { app: "web", tier: "back" } }), []);
      assert.deepEqual(await ids({ id: b }), [b]);
      assert.deepEqual(await ids({ id: b.slice(0, 10) }), [b]);
      assert.deepEqual(await ids({ id: "ffffffffffff-nope" }), []);

      await s.client.call("StopPodSandbox", { pod_sandbox_id: b });
      await s.client.call("StopPodSandbox", { pod_sandbox_id: b });
      assert.deepEqual(await ids({ state: { state: "SANDBOX_READY" } }), [a]);
      assert.deepEqual(await ids({ state: { state: "SANDBOX_NOTREADY" } }), [b]);

      const streamed: string[] = [];
      for await (
        const msg of s.client.stream("StreamPodSandboxes", {
          filter: { label_selector: { app: "db" } },
        })
      ) {
        streamed.push(...msg.pod_sandboxes.map((p) => p.id));
      }
      assert.deepEqual(streamed, [b]);

      // Unknown IDs: stop and remove succeed, status is NOT_FOUND.
      await s.client.call("StopPodSandbox", { pod_sandbox_id: "0123456789abcdef" });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: "0123456789abcdef" });
      // Remove of a ready pod stops it first.
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: a });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: a });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: b });
      const err = await s.client.call("PodSandboxStatus", { pod_sandbox_id: a }).catch((e) => e);
      assert.ok(err instanceof CriCallError);
      assert.equal(err.codeName, "NOT_FOUND");
      assert.deepEqual(await ids({}), []);
    }),
});

Deno.test({
  name: "hostPort is reachable at 127.0.0.1 and from another namespace through the host",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const hostPort = freePort();
      const { pod_sandbox_id: id } = await s.client.call("RunPodSandbox", {
        config: podConfig({
          port_mappings: [{ protocol: "TCP", container_port: 8080, host_port: hostPort }],
        }),
      });
      const v = await verboseInfo(s, id);
      const www = await Deno.makeTempDir({ prefix: "skiff-test-www-" });
      await Deno.writeTextFile(`${www}/hello`, `hello from ${id}\n`);
      // A web server inside the pod's network namespace.
      const server = new Deno.Command("nsenter", {
        args: [
          `--net=${v.namespaces.net}`,
          "--",
          "busybox",
          "httpd",
          "-f",
          "-p",
          "8080",
          "-h",
          www,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const peerNs = `skt-peer-${crypto.randomUUID().slice(0, 8)}`;
      const hostVeth = `skv${crypto.randomUUID().slice(0, 8)}`;
      const peerSubnet = uniqueSubnet().replace(/0\/24$/, "");
      try {
        let body = "";
        for (let i = 0; i < 50 && !body; i++) {
          body = await fetch(`http://127.0.0.1:${hostPort}/hello`).then((r) => r.text())
            .catch(() => "");
          if (!body) await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(body, `hello from ${id}\n`);

        // Another namespace of the test's own, connected to the host by a veth pair.
        for (
          const argv of [
            ["ip", "netns", "add", peerNs],
            [
              "ip",
              "link",
              "add",
              hostVeth,
              "type",
              "veth",
              "peer",
              "name",
              "eth0",
              "netns",
              peerNs,
            ],
            ["ip", "addr", "add", `${peerSubnet}1/24`, "dev", hostVeth],
            ["ip", "link", "set", hostVeth, "up"],
            ["ip", "-n", peerNs, "addr", "add", `${peerSubnet}2/24`, "dev", "eth0"],
            ["ip", "-n", peerNs, "link", "set", "eth0", "up"],
            ["ip", "-n", peerNs, "link", "set", "lo", "up"],
          ]
        ) {
          const r = await cmd(argv);
          assert.equal(r.code, 0, `${argv.join(" ")}: ${r.stderr}`);
        }
        const got = await cmd([
          "ip",
          "netns",
          "exec",
          peerNs,
          "curl",
          "-sS",
          "--max-time",
          "5",
          `http://${peerSubnet}1:${hostPort}/hello`,
        ]);
        assert.equal(got.stdout, `hello from ${id}\n`, got.stderr);
      } finally {
        server.kill("SIGKILL");
        await server.status;
        await cmd(["ip", "link", "del", hostVeth]);
        await cmd(["ip", "netns", "del", peerNs]);
        await Deno.remove(www, { recursive: true });
      }
      await s.client.call("StopPodSandbox", { pod_sandbox_id: id });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      // The DNAT rules of the pod are gone with it.
      const nat = (await cmd(["iptables", "-w", "-t", "nat", "-S"])).stdout;
      assert.ok(!nat.includes(`--dport ${hostPort} `), "hostPort DNAT rule left behind");
    }),
});

Deno.test({
  name: "concurrent first pods share one namespace-dir mount and all work",
  ignore,
  fn: () =>
    withSkiff(async (s) => {
      const ids = (await Promise.all(
        Array.from({ length: 6 }, () => s.client.call("RunPodSandbox", { config: podConfig() })),
      )).map((r) => r.pod_sandbox_id);
      const mountinfo = await Deno.readTextFile("/proc/self/mountinfo");
      const nsDirMounts = mountinfo.split("\n").filter((l) =>
        l.split(" ")[4] === `${s.stateDir}/ns`
      );
      assert.equal(nsDirMounts.length, 1, nsDirMounts.join("\n"));
      const ips = new Set<string>();
      for (const id of ids) {
        const st = await s.client.call("PodSandboxStatus", { pod_sandbox_id: id });
        assert.equal(st.status!.state, "SANDBOX_READY");
        ips.add(st.status!.network!.ip);
      }
      assert.equal(ips.size, ids.length);
      await Promise.all(ids.map((id) => s.client.call("RemovePodSandbox", { pod_sandbox_id: id })));
      assert.deepEqual([...Deno.readDirSync(`${s.stateDir}/ns`)], []);
    }),
});
