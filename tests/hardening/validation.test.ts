/**
 * Hostile or mistaken RunPodSandbox/CreateContainer requests against a real Skiff (real
 * registry on 127.0.0.1, busybox image pushed by the test, runc + conmon): each is refused
 * up front with INVALID_ARGUMENT naming the field, never INTERNAL later, never with a path
 * of Skiff's own; and what is valid still runs. Issue 13, items 2, 4, 9 (names and
 * hostnames) and 10.
 */
import assert from "node:assert/strict";
import type { DeepPartial } from "../../cri/handler.ts";
import type { ContainerConfig, PodSandboxConfig } from "../../cri/types.ts";
import { runtimePrerequisitesMissing } from "../container/fixture.ts";
import { pushBusyboxImage } from "../helpers/oci_build.ts";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { assertNoHostPaths, expectRefusal, messagesChecked } from "./refusal.ts";

const ignore = runtimePrerequisitesMissing() !== null || registryPrerequisitesMissing() !== null;
const opts = { ignore, sanitizeOps: false, sanitizeResources: false };

interface Env {
  s: TestSkiff;
  image: string;
}

/** A registry with the busybox image, and a Skiff that has pulled it. */
async function withSkiff(
  fn: (env: Env) => Promise<void>,
  skiffOpts: { bridge?: boolean } = {},
): Promise<void> {
  const registry = await TestRegistry.start();
  const s = await TestSkiff.create(skiffOpts);
  try {
    const img = await pushBusyboxImage(registry, "hardening/busybox:1", {
      config: { Cmd: ["sh"] },
    });
    await s.start();
    await s.client.call("PullImage", { image: { image: img.ref } });
    await fn({ s, image: img.ref });
  } finally {
    await s.dispose();
    await registry.stop();
  }
}

let seq = 0;
/** A host-network pod (no CNI needed) with its own log directory. */
function pod(
  s: TestSkiff,
  over: DeepPartial<PodSandboxConfig> = {},
): DeepPartial<PodSandboxConfig> {
  const n = ++seq;
  return {
    metadata: { name: `vpod${n}`, namespace: "hardening", uid: crypto.randomUUID(), attempt: 0 },
    hostname: `vpod${n}`,
    log_directory: `${s.dir}/pod-logs/${n}`,
    linux: {
      security_context: { namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" } },
    },
    ...over,
  };
}

function ctr(image: string, name: string, over: DeepPartial<ContainerConfig> = {}) {
  return {
    metadata: { name, attempt: 0 },
    image: { image },
    command: ["sh", "-c", "true"],
    log_path: `${name}/0.log`,
    ...over,
  } satisfies DeepPartial<ContainerConfig>;
}

async function runPod(s: TestSkiff, config: DeepPartial<PodSandboxConfig>): Promise<string> {
  return (await s.client.call("RunPodSandbox", { config })).pod_sandbox_id;
}

/** Creates, starts and waits for a container; returns its log's stdout text. */
async function runToExit(
  s: TestSkiff,
  podId: string,
  config: DeepPartial<ContainerConfig>,
): Promise<string> {
  const { container_id: id } = await s.client.call("CreateContainer", {
    pod_sandbox_id: podId,
    config,
  });
  await s.client.call("StartContainer", { container_id: id });
  const deadline = Date.now() + 15000;
  while (true) {
    const { status } = await s.client.call("ContainerStatus", { container_id: id });
    if (status?.state === "CONTAINER_EXITED") {
      const log = await Deno.readTextFile(status.log_path);
      return log.split("\n").filter((l) => / stdout F /.test(l))
        .map((l) => l.replace(/^\S+ stdout F /, "")).join("\n");
    }
    if (Date.now() > deadline) throw new Error(`container ${id} did not exit`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function podCount(s: TestSkiff): Promise<number> {
  return (await s.client.call("ListPodSandbox", {})).items.length;
}

Deno.test(
  "item 2: a privileged container needs a privileged pod, and runs without its seccomp profile",
  opts,
  async () => {
    await withSkiff(async ({ s, image }) => {
      const plain = pod(s);
      const plainId = await runPod(s, plain);
      const details = await expectRefusal(
        s,
        s.client.call("CreateContainer", {
          pod_sandbox_id: plainId,
          config: ctr(image, "escalate", { linux: { security_context: { privileged: true } } }),
        }),
        "INVALID_ARGUMENT",
        "privileged container in an unprivileged pod",
      );
      assert.match(details, /"escalate"/, "names the container");
      assert.match(details, new RegExp(`${plainId}.*hardening/${plain.metadata!.name}`), details);
      const { containers } = await s.client.call("ListContainers", {});
      assert.equal(containers.length, 0, "nothing was left behind");

      // In a privileged pod the container runs, unconfined, although it names a profile that
      // would forbid mkdir.
      const profile = `${s.dir}/deny-mkdir.json`;
      await Deno.writeTextFile(
        profile,
        JSON.stringify({
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO" }],
        }),
      );
      const seccomp = { profile_type: "Localhost" as const, localhost_ref: profile };
      const privPod = await runPod(
        s,
        pod(s, {
          linux: {
            security_context: {
              privileged: true,
              namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
            },
          },
        }),
      );
      const script = "grep Seccomp: /proc/self/status; mkdir /tmp/d && echo mkdir-ok";
      const out = await runToExit(s, privPod, {
        ...ctr(image, "agent", { command: ["sh", "-c", script] }),
        linux: { security_context: { privileged: true, seccomp } },
      });
      assert.match(out, /Seccomp:\s+0/, out);
      assert.match(out, /mkdir-ok/, out);
      // The same profile does confine an ordinary container of that pod.
      const confined = await runToExit(s, privPod, {
        ...ctr(image, "plain", { command: ["sh", "-c", script] }),
        linux: { security_context: { seccomp } },
      });
      assert.match(confined, /Seccomp:\s+2/, confined);
      assert.doesNotMatch(confined, /mkdir-ok/, confined);
    });
  },
);

Deno.test(
  "item 4: relative log_directory, working_dir and escaping log paths are refused up front",
  opts,
  async () => {
    await withSkiff(async ({ s, image }) => {
      const rel = `relative-${crypto.randomUUID().slice(0, 8)}`;
      await expectRefusal(
        s,
        runPod(s, pod(s, { log_directory: `${rel}/logs` })),
        "INVALID_ARGUMENT",
        "relative log_directory",
      );
      await assert.rejects(Deno.stat(rel), Deno.errors.NotFound, "nothing made in Skiff's cwd");
      assert.equal(await podCount(s), 0);

      const podId = await runPod(s, pod(s));
      const bad: [string, DeepPartial<ContainerConfig>][] = [
        ["relative working_dir", ctr(image, "wd", { working_dir: "relative/dir" })],
        ["log_path escaping the log directory", ctr(image, "esc", { log_path: "../../x.log" })],
        ["absolute log_path", ctr(image, "abs", { log_path: "/etc/x.log" })],
        ["log_path naming a directory", ctr(image, "dir", { log_path: "dir/" })],
      ];
      for (const [what, config] of bad) {
        const details = await expectRefusal(
          s,
          s.client.call("CreateContainer", { pod_sandbox_id: podId, config }),
          "INVALID_ARGUMENT",
          what,
        );
        assert.match(details, /working_dir|log_path/, details);
      }
      // A pod without a log directory has nowhere to put a container's log_path.
      const noLogs = await runPod(s, pod(s, { log_directory: "" }));
      await expectRefusal(
        s,
        s.client.call("CreateContainer", { pod_sandbox_id: noLogs, config: ctr(image, "nolog") }),
        "INVALID_ARGUMENT",
        "log_path without a log_directory",
      );
      assert.equal((await s.client.call("ListContainers", {})).containers.length, 0);
      // An absolute working_dir still works.
      const out = await runToExit(
        s,
        podId,
        ctr(image, "ok", { working_dir: "/tmp", command: ["pwd"] }),
      );
      assert.equal(out.trim(), "/tmp");
    });
  },
);

Deno.test(
  "item 9: names and hostnames are validated (RFC 1123, kernel's 64) before anything is made",
  opts,
  async () => {
    await withSkiff(async ({ s, image }) => {
      const md = (over: Record<string, string>) => ({
        name: "web",
        namespace: "hardening",
        uid: crypto.randomUUID(),
        attempt: 0,
        ...over,
      });
      const bad: [string, DeepPartial<PodSandboxConfig>][] = [
        ["pod name with /", { metadata: md({ name: "a/b" }), hostname: "" }],
        ["pod name with ;", { metadata: md({ name: "a;K8S_POD_NAME=x" }) }],
        ["namespace with ;", { metadata: md({ namespace: "ns;IgnoreUnknown=0" }) }],
        ["uid with /", { metadata: md({ uid: "../../etc" }) }],
        ["hostname a;b", { hostname: "a;b" }],
        ["hostname with a space", { hostname: "a b" }],
        ["10 KB hostname", { hostname: "h".repeat(10240) }],
        ["65-character hostname", { hostname: `${"a".repeat(32)}.${"b".repeat(32)}` }],
        ["64-character label", { hostname: "c".repeat(64) }],
      ];
      for (const [what, over] of bad) {
        const config = { ...pod(s), ...over };
        const details = await expectRefusal(s, runPod(s, config), "INVALID_ARGUMENT", what);
        assert.match(details, /pod name|pod namespace|pod uid|hostname/, details);
        assert.ok(details.length < 600, `bounded message for ${what}: ${details.length} chars`);
      }
      assert.equal(await podCount(s), 0, "no pod was made");

      // The longest hostname the kernel holds (64 characters), in the pod's own UTS namespace.
      const fqdn = `${"a".repeat(31)}.${"b".repeat(32)}`;
      const podId = await runPod(
        s,
        pod(s, {
          hostname: fqdn,
          linux: {
            security_context: {
              namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" },
            },
          },
        }),
      );
      assert.equal(
        (await runToExit(s, podId, ctr(image, "host", { command: ["hostname"] }))).trim(),
        fqdn,
      );
      await expectRefusal(
        s,
        s.client.call("CreateContainer", { pod_sandbox_id: podId, config: ctr(image, "a/b") }),
        "INVALID_ARGUMENT",
        "container name with /",
      );
      // A pod without a hostname takes one made from its name, whatever the name holds.
      const named = await runPod(
        s,
        pod(s, {
          metadata: md({ name: "Crictl_Pod" }),
          hostname: "",
          linux: {
            security_context: {
              namespace_options: { network: "POD", pid: "CONTAINER", ipc: "POD" },
            },
          },
        }),
      );
      assert.equal(
        (await runToExit(s, named, ctr(image, "h2", { command: ["hostname"] }))).trim(),
        "Crictl-Pod",
      );
    }, { bridge: true });
  },
);

Deno.test("item 10: run_as_group without run_as_user or run_as_username", opts, async () => {
  await withSkiff(async ({ s, image }) => {
    const podId = await runPod(s, pod(s));
    const details = await expectRefusal(
      s,
      s.client.call("CreateContainer", {
        pod_sandbox_id: podId,
        config: ctr(image, "grp", {
          linux: { security_context: { run_as_group: { value: "1000" } } },
        }),
      }),
      "INVALID_ARGUMENT",
      "run_as_group alone",
    );
    assert.match(details, /user group "1000" is specified without user/);
    // With a user, by id or by name, the group is taken.
    for (const sc of [{ run_as_user: { value: "1000" } }, { run_as_username: "app" }]) {
      const out = await runToExit(s, podId, {
        ...ctr(image, `id${Object.keys(sc)[0].length}`, { command: ["id"] }),
        linux: { security_context: { ...sc, run_as_group: { value: "3000" } } },
      });
      assert.match(out, /uid=1000.*gid=3000/, out);
    }
  });
});

Deno.test(
  "sweep: argv, env, ids, paths, cgroup parent, host_ip and start-time faults are INVALID_ARGUMENT without Skiff's paths",
  opts,
  async () => {
    await withSkiff(async ({ s, image }) => {
      const podId = await runPod(s, pod(s));
      const enc = (v: string) => new TextEncoder().encode(v);
      const bad: [string, DeepPartial<ContainerConfig>][] = [
        ["NUL in an argument", ctr(image, "a1", { command: ["sh", "-c", "true\0x"] })],
        ["NUL in an env value", ctr(image, "a2", { envs: [{ key: "A", value: enc("x\0y") }] })],
        ["= in an env name", ctr(image, "a3", { envs: [{ key: "A=B", value: enc("1") }] })],
        ["argument over MAX_ARG_STRLEN", ctr(image, "a4", { args: ["x".repeat(131072)] })],
        [
          "negative uid",
          ctr(image, "a5", { linux: { security_context: { run_as_user: { value: "-1" } } } }),
        ],
        [
          "relative mount host_path",
          ctr(image, "a6", { mounts: [{ container_path: "/m", host_path: "rel" }] }),
        ],
        [
          "relative device path",
          ctr(image, "a7", { devices: [{ container_path: "/dev/x", host_path: "null" }] }),
        ],
        [
          "not a device",
          ctr(image, "a8", { devices: [{ container_path: "/dev/x", host_path: "/etc/hostname" }] }),
        ],
      ];
      for (const [what, config] of bad) {
        await expectRefusal(
          s,
          s.client.call("CreateContainer", { pod_sandbox_id: podId, config }),
          "INVALID_ARGUMENT",
          what,
        );
      }
      assert.equal((await s.client.call("ListContainers", {})).containers.length, 0);
      const badPods: [string, DeepPartial<PodSandboxConfig>][] = [
        ["a node-wide sysctl", { linux: { sysctls: { "kernel.hostname": "x" } } }],
        ["cgroup_parent leading out of the cgroup tree", {
          linux: { cgroup_parent: "/../../../tmp/evil" },
        }],
        ["host_ip that is no address", {
          port_mappings: [{ host_port: 18080, container_port: 80, host_ip: "a;b" }],
        }],
      ];
      for (const [what, over] of badPods) {
        const config = pod(s, over);
        config.linux = { ...pod(s).linux, ...config.linux };
        await expectRefusal(s, runPod(s, config), "INVALID_ARGUMENT", what);
      }

      // Faults only runc can find show at StartContainer: still the request's fault, and
      // neither the reply nor the container's status names Skiff's own paths.
      const startFaults: [string, DeepPartial<ContainerConfig>, RegExp][] = [
        ["a command the image lacks", ctr(image, "s1", { command: ["/not/here"] }), /not\/here/],
        ["a bind mount over /proc", {
          ...ctr(image, "s2"),
          mounts: [{ container_path: "/proc", host_path: "/tmp" }],
        }, /"\/proc" cannot be mounted/],
      ];
      for (const [what, config, reason] of startFaults) {
        const { container_id: id } = await s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config,
        });
        const details = await expectRefusal(
          s,
          s.client.call("StartContainer", { container_id: id }),
          "INVALID_ARGUMENT",
          what,
        );
        assert.match(details, reason);
        const { status } = await s.client.call("ContainerStatus", { container_id: id });
        assert.equal(status?.reason, "StartError");
        assertNoHostPaths(s, status?.message ?? "", `${what}: status message`);
      }
      // A host path that cannot become a directory is the request's fault too.
      await expectRefusal(
        s,
        s.client.call("CreateContainer", {
          pod_sandbox_id: podId,
          config: {
            ...ctr(image, "s3"),
            mounts: [{ container_path: "/m", host_path: "/etc/hostname/sub" }],
          },
        }),
        "INVALID_ARGUMENT",
        "host_path below a file",
      );
      console.log(
        `hardening/validation: ${messagesChecked()} refusal messages checked for host paths`,
      );
    });
  },
);
