/**
 * A `hostUsers: false` pod run by a real kubelet (v1.32, `UserNamespacesSupport` gate) on a
 * private Skiff: it reaches Running, kubelet's exec (/run and the streaming /exec) works in
 * it, and its root is an unprivileged uid on the node from the range kubelet allocated.
 * The kubelet comes from `../shared/tools/kubelet/` (see its README); this file keeps the
 * minimal code to run one, with everything it leaves (log dirs, cgroups, dirs) removed.
 */
import assert from "node:assert/strict";
import { freePort, missingPrerequisites, randomHex } from "../helpers/env.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { removeTree, TestSkiff } from "../helpers/skiff.ts";

const TOOLS = Deno.env.get("SKIFF_KUBELET_DIR") ??
  new URL("../../../shared/tools/kubelet", import.meta.url).pathname;

function kubeletMissing(): string | null {
  try {
    Deno.statSync(`${TOOLS}/kubelet.gz`);
    Deno.statSync(`${TOOLS}/kubelet-stream.gz`);
  } catch {
    return `no kubelet in ${TOOLS} (set SKIFF_KUBELET_DIR)`;
  }
  return null;
}

const missing = missingPrerequisites({
  root: true,
  binaries: ["runc", "conmon", "unshare", "nsenter", "gunzip"],
}) ?? registryPrerequisitesMissing() ?? kubeletMissing();
if (missing) console.warn(`SKIPPING tests/userns/kubelet.test.ts: ${missing}`);

async function unpack(dir: string, name: string): Promise<string> {
  const out = `${dir}/${name}`;
  const gz = await new Deno.Command("gunzip", {
    args: ["-c", `${TOOLS}/${name}.gz`],
    stdout: "piped",
  }).output();
  assert.ok(gz.success, `cannot unpack ${name}`);
  await Deno.writeFile(out, gz.stdout, { mode: 0o755 });
  return out;
}

/** A kubelet for one test: its own dirs, ports and node name; stopped and cleaned by stop(). */
class TestKubelet {
  readonly port = freePort();
  readonly healthzPort = freePort();
  readonly node = `skiff-userns-${randomHex(4)}`;
  readonly manifests: string;
  private child?: Deno.ChildProcess;
  private preexisting = new Set<string>();

  constructor(readonly dir: string, readonly skiff: TestSkiff) {
    this.manifests = `${dir}/manifests`;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(binary: string): Promise<void> {
    for (const p of ["/var/lib/kubelet/device-plugins", "/var/lib/kubelet", "/var/log/pods"]) {
      if (await Deno.stat(p).then(() => true, () => false)) this.preexisting.add(p);
    }
    await Deno.mkdir(this.manifests, { recursive: true });
    const flags = (await Deno.readTextFile(`${TOOLS}/kubelet-flags.txt`)).split("\n")
      .map((l) => l.trim()).filter(Boolean)
      .filter((l) => !/^--(port|healthz-port)=/.test(l))
      .map((l) =>
        l.replace("SKIFF_SOCKET", this.skiff.socket).replace("MANIFEST_DIR", this.manifests)
      );
    const log = await Deno.open(`${this.dir}/kubelet.log`, { create: true, write: true });
    this.child = new Deno.Command(binary, {
      args: [
        ...flags,
        `--root-dir=${this.dir}/root`,
        `--cert-dir=${this.dir}/root/pki`,
        `--hostname-override=${this.node}`,
        `--port=${this.port}`,
        `--healthz-port=${this.healthzPort}`,
        "--cgroups-per-qos=false",
        "--enforce-node-allocatable=",
        "--feature-gates=UserNamespacesSupport=true",
        "--v=2",
      ],
      stdin: "null",
      // klog writes to stderr.
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.child.stderr.pipeTo(log.writable).catch(() => {});
  }

  async log(): Promise<string> {
    return await Deno.readTextFile(`${this.dir}/kubelet.log`).catch(() => "");
  }

  // deno-lint-ignore no-explicit-any
  async pods(): Promise<any[]> {
    const r = await fetch(`${this.url}/pods`).catch(() => null);
    if (!r?.ok) {
      await r?.body?.cancel();
      return [];
    }
    return (await r.json()).items ?? [];
  }

  async waitRunning(name: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const pod = (await this.pods()).find((p) => p.metadata?.name === name);
      const cs = pod?.status?.containerStatuses?.[0];
      if (pod?.status?.phase === "Running" && cs?.state?.running) return pod;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(
      `pod ${name} not Running in ${timeoutMs} ms; kubelet log tail:\n` +
        (await this.log()).split("\n").slice(-40).join("\n"),
    );
  }

  /** kubelet's /run endpoint (ExecSync through CRI). */
  async run(ns: string, pod: string, container: string, cmd: string): Promise<string> {
    const q = new URLSearchParams({ cmd });
    const r = await fetch(`${this.url}/run/${ns}/${pod}/${container}?${q}`, { method: "POST" });
    const text = await r.text();
    assert.ok(r.ok, `/run ${cmd}: ${r.status} ${text}`);
    return text;
  }

  /** Stops kubelet and removes what it left outside its own dir. */
  async stop(): Promise<void> {
    if (this.child) {
      try {
        this.child.kill("SIGTERM");
      } catch { /* gone */ }
      await this.child.status;
      this.child = undefined;
    }
    for (const e of await Array.fromAsync(Deno.readDir("/var/log/pods")).catch(() => [])) {
      if (e.name.includes(this.node)) await removeTree(`/var/log/pods/${e.name}`);
    }
    for (const p of ["/var/log/pods", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet"]) {
      if (this.preexisting.has(p)) continue;
      // Only an empty leftover of our own: another kubelet may have started meanwhile.
      await Deno.remove(p).catch(() => {});
      if (p.endsWith("device-plugins")) {
        await Deno.remove(`${p}/kubelet.sock`).catch(() => {});
        await Deno.remove(p).catch(() => {});
      }
    }
  }
}

Deno.test({
  name: "userns + kubelet: a hostUsers: false pod reaches Running; exec and port-forward work",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    await Deno.chmod(s.dir, 0o711);
    const k = new TestKubelet(`${s.dir}/kubelet`, s);
    try {
      const img = await pushBusyboxImage(registry, "userns/busybox:kubelet");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const bin = await Deno.makeTempDir({ dir: s.dir, prefix: "bin" });
      const kubelet = await unpack(bin, "kubelet");
      const stream = await unpack(bin, "kubelet-stream");
      await k.start(kubelet);
      const manifest = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "userns", namespace: "default" },
        spec: {
          hostUsers: false,
          terminationGracePeriodSeconds: 2,
          containers: [{
            name: "main",
            image: img.ref,
            imagePullPolicy: "IfNotPresent",
            command: [
              "sh",
              "-c",
              "trap 'exit 0' TERM; echo served > /tmp/index.html; " +
              "httpd -f -p 8080 -h /tmp & wait",
            ],
          }],
        },
      };
      await Deno.writeTextFile(`${k.manifests}/userns.json`, JSON.stringify(manifest));
      const podName = `userns-${k.node}`;
      await k.waitRunning(podName, 90_000);

      const uidMap = (await k.run("default", podName, "main", "cat /proc/self/uid_map")).trim()
        .split(/\s+/).map(Number);
      assert.equal(uidMap[0], 0, `uid_map ${uidMap}`);
      assert.ok(uidMap[1] >= 65536, `kubelet's range starts at ${uidMap[1]}`);
      assert.equal(uidMap[2], 65536);
      assert.equal((await k.run("default", podName, "main", "id -u")).trim(), "0");

      // The streaming exec (SPDY through kubelet's /exec to Skiff's streaming server).
      const ex = await new Deno.Command(stream, {
        args: [
          "exec",
          "-kubelet",
          k.url,
          "-ns",
          "default",
          "-pod",
          podName,
          "-container",
          "main",
          "--",
          "sh",
          "-c",
          "id -u; stat -c %u /bin/busybox",
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const out = new TextDecoder().decode(ex.stdout);
      assert.ok(ex.success, `kubelet-stream exec: ${out} ${new TextDecoder().decode(ex.stderr)}`);
      assert.deepEqual(out.trim().split(/\s+/), ["0", "0"]);

      // Port-forward through kubelet's /portForward into the pod's network namespace
      // (kubelet-stream pf opens one connection through its local port and prints the reply).
      const pf = await new Deno.Command(stream, {
        args: [
          "pf",
          "-kubelet",
          k.url,
          "-ns",
          "default",
          "-pod",
          podName,
          "-port",
          `${freePort()}:8080`,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      const pfText = new TextDecoder().decode(pf.stdout) + new TextDecoder().decode(pf.stderr);
      assert.ok(pf.success, pfText);
      assert.match(pfText, /HTTP 200\s+served/);

      // On the node, the container's process runs as the range kubelet allocated.
      const pods = await s.client.call("ListPodSandbox", {});
      assert.equal(pods.items.length, 1);
      const ctrs = await s.client.call("ListContainers", {});
      const st = await s.client.call("ContainerStatus", {
        container_id: ctrs.containers[0].id,
        verbose: true,
      });
      const pid = (JSON.parse(st.info.info) as { pid: number }).pid;
      const hostUid = Number(
        /^Uid:\s+(\d+)/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1],
      );
      assert.equal(hostUid, uidMap[1]);
    } finally {
      await k.stop();
      await s.dispose();
      await registry.stop();
    }
  },
});
