/**
 * Sandboxes with real containers in them (image pushed to a real registry on 127.0.0.1,
 * runc + conmon): a container joins the pod's pinned network namespace and shared PID
 * namespace, sees the pod's hostname and resolv.conf, and serves on the pod IP to another
 * pod; StopPodSandbox stops it and RemovePodSandbox removes it (the PodContainers seam).
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites } from "../helpers/env.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { CriCallError } from "../../cri/client.ts";
import { cleanupSkiff, cmd, inPod, podConfig, REQUIRED_BINARIES, verboseInfo } from "./helpers.ts";

const ignore =
  missingPrerequisites({ root: true, binaries: [...REQUIRED_BINARIES, "runc", "conmon"] }) !==
    null || registryPrerequisitesMissing() !== null;

Deno.test({
  name: "a container in a sandbox uses its namespaces and files, and goes with the pod",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const registry = await TestRegistry.start();
    const s = await TestSkiff.create({ bridge: true });
    try {
      const img = await pushBusyboxImage(registry, "sandbox-test/busybox:1");
      await s.start();
      await s.client.call("PullImage", { image: { image: img.ref } });
      const configA = podConfig({
        pid: "POD",
        hostname: "web-a",
        dns_config: { servers: ["10.96.0.10"], searches: ["pods.test"], options: ["ndots:2"] },
        log_directory: `${s.dir}/pod-logs/a`,
      });
      const a = (await s.client.call("RunPodSandbox", { config: configA })).pod_sandbox_id;
      const b = (await s.client.call("RunPodSandbox", { config: podConfig() })).pod_sandbox_id;
      const { container_id: web } = await s.client.call("CreateContainer", {
        pod_sandbox_id: a,
        config: {
          metadata: { name: "web", attempt: 0 },
          image: { image: img.ref },
          command: ["busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"],
          log_path: "web/0.log",
          linux: {
            security_context: {
              namespace_options: { network: "POD", pid: "POD", ipc: "POD" },
            },
          },
        },
        sandbox_config: configA,
      });
      await s.client.call("StartContainer", { container_id: web });

      const va = await verboseInfo(s, a);
      const vb = await verboseInfo(s, b);
      const cinfo = JSON.parse(
        (await s.client.call("ContainerStatus", { container_id: web, verbose: true })).info.info,
      ) as { pid: number };
      const nsOf = (pid: number, kind: string) => Deno.readLinkSync(`/proc/${pid}/ns/${kind}`);
      // Joined the pod's pinned net/ipc/uts namespaces and the infra's PID namespace.
      for (const kind of ["net", "ipc", "uts"] as const) {
        const pinned = Deno.statSync(va.namespaces[kind]!).ino;
        assert.equal(nsOf(cinfo.pid, kind), `${kind}:[${pinned}]`);
      }
      assert.equal(nsOf(cinfo.pid, "pid"), nsOf(va.pid, "pid"));

      // Pod B reaches the container on pod A's IP; the files are the pod's.
      const ipA = va.ips[0];
      let hostname = "";
      for (let i = 0; i < 50 && !hostname; i++) {
        const r = await inPod(vb.namespaces, [
          "curl",
          "-sS",
          "--max-time",
          "2",
          `http://${ipA}:8080/hostname`,
        ]);
        hostname = r.code === 0 ? r.stdout : "";
        if (!hostname) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(hostname, "web-a\n");
      const resolv = await inPod(vb.namespaces, [
        "curl",
        "-sS",
        "--max-time",
        "2",
        `http://${ipA}:8080/resolv.conf`,
      ]);
      assert.equal(resolv.stdout, "search pods.test\nnameserver 10.96.0.10\noptions ndots:2\n");
      const uname = await cmd(["nsenter", `--uts=${va.namespaces.uts}`, "hostname"]);
      assert.equal(uname.stdout.trim(), "web-a");

      // Stopping the pod stops its container; removing the pod removes it.
      await s.client.call("StopPodSandbox", { pod_sandbox_id: a });
      const st = await s.client.call("ContainerStatus", { container_id: web });
      assert.equal(st.status!.state, "CONTAINER_EXITED");
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: a });
      const gone = await s.client.call("ContainerStatus", { container_id: web }).catch((e) => e);
      assert.ok(gone instanceof CriCallError);
      assert.equal(gone.codeName, "NOT_FOUND");
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: b });
    } finally {
      await cleanupSkiff(s);
      await registry.stop();
    }
  },
});
