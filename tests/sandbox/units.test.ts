/**
 * Pure logic of pod networking: CNI config parsing, resolv.conf/hosts text, and the CNI
 * exec protocol (env, capability args only for plugins that declare them, prevResult on
 * CHECK/DEL, reverse DEL order, result cache, timeout) driven against small recording fake
 * plugins. Sysctl rules and bandwidth quantities are tested beside runtime/sandbox/.
 */
import assert from "node:assert/strict";
import {
  CniRuntime,
  defaultBridgeNetwork,
  parseNetworkConfig,
  resultIps,
} from "../../network/cni.ts";
import { hostsFile, resolvConf } from "../../network/pod_files.ts";
import { InvalidArgumentError } from "../../core/errors.ts";

Deno.test("a single-plugin .conf becomes a one-plugin conflist", () => {
  const c = parseNetworkConfig(
    JSON.stringify({ cniVersion: "0.4.0", name: "n", type: "bridge", bridge: "b0" }),
    "x.conf",
  );
  assert.deepEqual(c, {
    cniVersion: "0.4.0",
    name: "n",
    disableCheck: false,
    plugins: [{ type: "bridge", bridge: "b0" }],
  });
  assert.throws(() => parseNetworkConfig("{", "a.conf"), /a\.conf is not valid JSON/);
  assert.throws(() => parseNetworkConfig('{"name":"n","plugins":[]}', "b"), /lists no plugins/);
  assert.throws(() => parseNetworkConfig('{"plugins":[{"type":"x"}]}', "c"), /no "name"/);
  assert.throws(() => parseNetworkConfig('{"name":"n","plugins":[{}]}', "d"), /plugin #0/);
});

Deno.test("the built-in network keeps host-local's data inside Skiff's root", () => {
  const n = defaultBridgeNetwork({ bridgeName: "br9", subnet: "10.1.2.0/24", ipamDataDir: "/r" });
  const bridge = n.plugins[0] as unknown as {
    bridge: string;
    ipam: { dataDir: string; ranges: unknown };
  };
  assert.equal(bridge.bridge, "br9");
  assert.equal(bridge.ipam.dataDir, "/r");
  assert.deepEqual(bridge.ipam.ranges, [[{ subnet: "10.1.2.0/24" }]]);
  assert.deepEqual(n.plugins.map((p) => p.type), ["bridge", "portmap"]);
});

Deno.test("pod files: resolv.conf from DNSConfig, hosts with the pod's IPs", () => {
  assert.equal(resolvConf(null), null);
  assert.equal(resolvConf({ servers: [], searches: [], options: [] }), null);
  assert.equal(
    resolvConf({ servers: ["1.1.1.1"], searches: ["a.b"], options: ["ndots:2"] }),
    "search a.b\nnameserver 1.1.1.1\noptions ndots:2\n",
  );
  assert.throws(
    () => resolvConf({ servers: ["1.1.1.1\nnameserver 6.6.6.6"], searches: [], options: [] }),
    InvalidArgumentError,
  );
  assert.match(
    hostsFile("web", ["10.0.0.5"]),
    /^127\.0\.0\.1\tlocalhost\n[\s\S]*10\.0\.0\.5\tweb\n$/,
  );
});

Deno.test("result IPs drop the prefix length, IPv4 first", () => {
  assert.deepEqual(
    resultIps({ ips: [{ address: "fd00::5/64" }, { address: "10.0.0.5/24" }] }),
    ["10.0.0.5", "fd00::5"],
  );
});

const RECORDER = `#!/bin/sh
# Fake CNI plugin for unit tests: records its stdin and env, prints a fixed result.
d=$(dirname "$0")
n=$(basename "$0")
echo "$CNI_COMMAND $n" >> "$d/order"
cat > "$d/$n.$CNI_COMMAND.json"
env > "$d/$n.$CNI_COMMAND.env"
[ "$n" = slow ] && sleep 10
[ "$n" = failing ] && { echo '{"code":11,"msg":"boom","details":"it broke"}'; exit 1; }
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.0.0","ips":[{"address":"10.9.9.9/24"}]}'
exit 0
`;

async function fakePlugins(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-test-cni-" });
  await Deno.writeTextFile(`${dir}/recorder`, RECORDER, { mode: 0o755 });
  for (const n of ["with-caps", "no-caps", "slow", "failing"]) {
    await Deno.symlink(`${dir}/recorder`, `${dir}/${n}`);
  }
  return dir;
}

Deno.test("CNI exec protocol: env, capabilities, prevResult, DEL order, cache", async () => {
  const bin = await fakePlugins();
  try {
    const cni = new CniRuntime({
      binDirs: ["/nonexistent", bin],
      cacheDir: `${bin}/cache`,
      timeoutMs: 5000,
    });
    const net = {
      cniVersion: "1.0.0",
      name: "net1",
      plugins: [
        { type: "with-caps", capabilities: { portMappings: true, bandwidth: true } },
        { type: "no-caps" },
      ],
    };
    const a = {
      containerId: "c1",
      netnsPath: "/proc/self/ns/net",
      ifName: "eth0",
      args: [["K8S_POD_NAME", "p"], ["K8S_POD_NAMESPACE", "ns"]] as [string, string][],
      capabilityArgs: {
        portMappings: [{ hostPort: 80, containerPort: 8080, protocol: "tcp" }],
        dns: { servers: ["1.1.1.1"], searches: [], options: [] },
      },
    };
    const result = await cni.add(net, a);
    assert.deepEqual(resultIps(result), ["10.9.9.9"]);
    const read = (f: string) => JSON.parse(Deno.readTextFileSync(`${bin}/${f}`));
    const addA = read("with-caps.ADD.json");
    assert.equal(addA.name, "net1");
    assert.equal(addA.cniVersion, "1.0.0");
    // Only declared capabilities, and only those with values.
    assert.deepEqual(addA.runtimeConfig, { portMappings: a.capabilityArgs.portMappings });
    assert.equal(addA.prevResult, undefined);
    const addB = read("no-caps.ADD.json");
    assert.equal(addB.runtimeConfig, undefined);
    assert.deepEqual(addB.prevResult.ips, [{ address: "10.9.9.9/24" }]);
    const env = Deno.readTextFileSync(`${bin}/with-caps.ADD.env`);
    assert.match(env, /CNI_COMMAND=ADD/);
    assert.match(env, /CNI_CONTAINERID=c1/);
    assert.match(env, /CNI_IFNAME=eth0/);
    assert.match(env, /CNI_ARGS=K8S_POD_NAME=p;K8S_POD_NAMESPACE=ns/);
    assert.match(env, new RegExp(`CNI_PATH=/nonexistent:${bin}`));
    const cached = JSON.parse(Deno.readTextFileSync(`${bin}/cache/results/net1-c1-eth0`));
    assert.equal(cached.kind, "cniCacheV1");
    assert.deepEqual(cached.result, result);

    await cni.check(net, a);
    assert.deepEqual(read("with-caps.CHECK.json").prevResult, result);

    await cni.del(net, a);
    assert.deepEqual(read("with-caps.DEL.json").prevResult, result);
    assert.deepEqual(read("no-caps.DEL.json").prevResult, result);
    assert.deepEqual(Deno.readTextFileSync(`${bin}/order`).trim().split("\n"), [
      "ADD with-caps",
      "ADD no-caps",
      "CHECK with-caps",
      "CHECK no-caps",
      "DEL no-caps",
      "DEL with-caps",
    ]);
    assert.equal(await cni.readCache(net, a), null);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("CNI: a failing plugin's error is reported and the chain is rolled back", async () => {
  const bin = await fakePlugins();
  try {
    const cni = new CniRuntime({ binDirs: [bin], cacheDir: `${bin}/cache`, timeoutMs: 5000 });
    const net = {
      cniVersion: "1.0.0",
      name: "n",
      plugins: [{ type: "no-caps" }, { type: "failing" }],
    };
    const a = { containerId: "c2", netnsPath: "/x", ifName: "eth0", args: [], capabilityArgs: {} };
    await assert.rejects(
      cni.add(net, a),
      /CNI plugin failing ADD failed for network n: boom: it broke/,
    );
    assert.deepEqual(Deno.readTextFileSync(`${bin}/order`).trim().split("\n"), [
      "ADD no-caps",
      "ADD failing",
      "DEL failing",
      "DEL no-caps",
    ]);
    assert.equal(await cni.readCache(net, a), null);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("CNI: a plugin running past the timeout is killed", async () => {
  const bin = await fakePlugins();
  try {
    const cni = new CniRuntime({ binDirs: [bin], cacheDir: `${bin}/cache`, timeoutMs: 300 });
    const net = { cniVersion: "1.0.0", name: "n", plugins: [{ type: "slow" }] };
    const a = { containerId: "c3", netnsPath: "/x", ifName: "eth0", args: [], capabilityArgs: {} };
    const started = Date.now();
    await assert.rejects(cni.add(net, a), /CNI plugin slow ADD timed out and was killed/);
    assert.ok(Date.now() - started < 5000);
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});
