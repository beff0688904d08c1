/**
 * Refused sandboxes: duplicate names, unknown handlers, bad sysctls, broken CNI configs
 * (invalid JSON, missing plugin, a plugin failing mid-chain). Each gets a clear error and
 * leaves nothing behind: no mounts, namespace files, veths, IPs, iptables rules, records.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites } from "../helpers/env.ts";
import { CriCallError } from "../../cri/client.ts";
import { cleanupSkiff, podConfig, REQUIRED_BINARIES, snapshot } from "./helpers.ts";

const ignore = missingPrerequisites({ root: true, binaries: REQUIRED_BINARIES }) !== null;

async function failure(p: Promise<unknown>): Promise<CriCallError> {
  const err = await p.then(() => null, (e) => e);
  assert.ok(err instanceof CriCallError, `expected a CRI error, got ${err}`);
  return err;
}

Deno.test({
  name: "duplicate, unknown handler, bad metadata and bad sysctls are refused cleanly",
  ignore,
  fn: async () => {
    const s = await TestSkiff.create({ bridge: true });
    try {
      await s.start();
      // Warm-up pod: the bridge and the shared portmap chains exist from here on.
      const cfg = podConfig();
      const { pod_sandbox_id: first } = await s.client.call("RunPodSandbox", { config: cfg });
      const before = await snapshot(s);

      const dup = await failure(s.client.call("RunPodSandbox", { config: cfg }));
      assert.equal(dup.codeName, "ALREADY_EXISTS");
      assert.match(dup.details, new RegExp(first));

      const handler = await failure(
        s.client.call("RunPodSandbox", { config: podConfig(), runtime_handler: "kata" }),
      );
      assert.equal(handler.codeName, "INVALID_ARGUMENT");
      assert.match(handler.details, /unknown runtime handler "kata".*configured handlers: runc/);

      const noName = await failure(
        s.client.call("RunPodSandbox", {
          config: { ...podConfig(), metadata: { namespace: "x", uid: "y" } },
        }),
      );
      assert.equal(noName.codeName, "INVALID_ARGUMENT");
      assert.match(noName.details, /name/);

      const nodeWide = await failure(
        s.client.call("RunPodSandbox", {
          config: podConfig({ linux: { sysctls: { "vm.swappiness": "10" } } }),
        }),
      );
      assert.equal(nodeWide.codeName, "INVALID_ARGUMENT");
      assert.match(nodeWide.details, /vm\.swappiness is not namespaced/);

      const unknownNet = await failure(
        s.client.call("RunPodSandbox", {
          config: podConfig({ linux: { sysctls: { "net.ipv4.no_such_knob": "1" } } }),
        }),
      );
      assert.equal(unknownNet.codeName, "INVALID_ARGUMENT");
      assert.match(unknownNet.details, /no_such_knob/);

      const hostNet = await failure(
        s.client.call("RunPodSandbox", {
          config: podConfig({
            linux: {
              sysctls: { "net.core.somaxconn": "1024" },
              security_context: {
                namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
              },
            },
          }),
        }),
      );
      assert.equal(hostNet.codeName, "INVALID_ARGUMENT");
      assert.match(hostNet.details, /host network/);

      const badPort = await failure(
        s.client.call("RunPodSandbox", {
          config: podConfig({
            port_mappings: [{ protocol: "TCP", container_port: 80, host_port: 70000 }],
          }),
        }),
      );
      assert.equal(badPort.codeName, "INVALID_ARGUMENT");
      assert.match(badPort.details, /ports must be 1-65535/);

      const userns = await failure(
        s.client.call("RunPodSandbox", {
          config: podConfig({
            linux: {
              security_context: {
                namespace_options: {
                  network: "POD",
                  pid: "CONTAINER",
                  ipc: "POD",
                  userns_options: { mode: "POD" },
                },
              },
            },
          }),
        }),
      );
      assert.equal(userns.codeName, "INVALID_ARGUMENT");
      // POD mode without mappings (user namespaces are supported: tests/userns/).
      assert.match(userns.details, /exactly one uid mapping/);

      assert.deepEqual(await snapshot(s), before);
      const { items } = await s.client.call("ListPodSandbox", {});
      assert.deepEqual(items.map((i) => i.id), [first]);

      // After removal the name is free again.
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: first });
      const again = await s.client.call("RunPodSandbox", { config: cfg });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: again.pod_sandbox_id });
    } finally {
      await cleanupSkiff(s);
    }
  },
});

Deno.test({
  name: "broken CNI configs fail with clear errors and leave nothing behind",
  ignore,
  fn: async () => {
    const s = await TestSkiff.create({ bridge: true });
    const conf = `${s.cniConfDir}/10-test.conflist`;
    try {
      await s.start();
      const warm = await s.client.call("RunPodSandbox", { config: podConfig() });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: warm.pod_sandbox_id });
      const before = await snapshot(s);

      // A config in the conf dir wins over the built-in network, so a broken one is used.
      await Deno.writeTextFile(conf, "{ not json");
      const badJson = await failure(s.client.call("RunPodSandbox", { config: podConfig() }));
      assert.equal(badJson.codeName, "FAILED_PRECONDITION");
      assert.match(badJson.details, /10-test\.conflist is not valid JSON/);

      await Deno.writeTextFile(
        conf,
        JSON.stringify({
          cniVersion: "1.0.0",
          name: "broken",
          plugins: [{ type: "no-such-plugin" }],
        }),
      );
      const missing = await failure(s.client.call("RunPodSandbox", { config: podConfig() }));
      assert.equal(missing.codeName, "FAILED_PRECONDITION");
      assert.match(missing.details, /CNI plugin "no-such-plugin" not found in \/opt\/cni\/bin/);

      // A chain whose second plugin fails after the bridge plugin allocated an IP: the
      // rollback must give the IP back and remove the veth.
      await Deno.writeTextFile(
        conf,
        JSON.stringify({
          cniVersion: "1.0.0",
          name: "skiff-default",
          plugins: [
            {
              type: "bridge",
              bridge: s.bridgeName,
              isGateway: true,
              ipMasq: true,
              ipam: {
                type: "host-local",
                ranges: [[{ subnet: s.subnet }]],
                dataDir: `${s.rootDir}/cni/networks`,
              },
            },
            { type: "tuning", sysctl: { "net.ipv4.conf.eth0.no_such_knob": "1" } },
          ],
        }),
      );
      const midChain = await failure(s.client.call("RunPodSandbox", { config: podConfig() }));
      assert.equal(midChain.codeName, "INTERNAL");
      assert.match(midChain.details, /CNI plugin tuning ADD failed/);

      assert.deepEqual(await snapshot(s), before);
      assert.deepEqual((await s.client.call("ListPodSandbox", {})).items, []);
      const cache = [...Deno.readDirSync(`${s.rootDir}/cni/cache/results`)];
      assert.deepEqual(cache, []);
    } finally {
      await cleanupSkiff(s);
    }
  },
});

Deno.test({
  name: "NetworkReady follows the CNI conf dir without a restart",
  ignore,
  fn: async () => {
    const s = await TestSkiff.create({ bridge: false });
    try {
      await s.start();
      const ready = async () =>
        (await s.client.call("Status", {})).status!.conditions.find((c) =>
          c.type === "NetworkReady"
        )!;
      const before = await ready();
      assert.equal(before.status, false);
      assert.equal(before.reason, "NetworkPluginNotReady");
      const noNet = await failure(s.client.call("RunPodSandbox", { config: podConfig() }));
      assert.equal(noNet.codeName, "FAILED_PRECONDITION");
      assert.match(noNet.details, /no CNI config found/);
      // Host-network pods need no CNI config.
      const host = await s.client.call("RunPodSandbox", {
        config: podConfig({
          linux: {
            security_context: {
              namespace_options: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
            },
          },
        }),
      });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: host.pod_sandbox_id });

      await Deno.writeTextFile(
        `${s.cniConfDir}/99-loopback.conf`,
        JSON.stringify({ cniVersion: "1.0.0", name: "lo-only", type: "loopback" }),
      );
      assert.equal((await ready()).status, true);
      // A pod on that (loopback-only) network now runs and is removed cleanly.
      const pod = await s.client.call("RunPodSandbox", { config: podConfig() });
      await s.client.call("RemovePodSandbox", { pod_sandbox_id: pod.pod_sandbox_id });
    } finally {
      await cleanupSkiff(s);
    }
  },
});
