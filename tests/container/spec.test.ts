/** Unit tests of the pure rules that turn image config + CRI config into an OCI spec. */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  ALL_CAPABILITIES,
  buildSpec,
  capabilitySet,
  clampOomScoreAdj,
  DEFAULT_CAPABILITIES,
  DEFAULT_MASKED_PATHS,
  processArgs,
  processEnv,
  type SpecHost,
  type SpecInput,
} from "../../runtime/spec/mod.ts";
import { parseGroup, parsePasswd, resolveInRoot, resolveUser } from "../../runtime/spec/mod.ts";
import { parseSignal } from "../../runtime/container.ts";
import { parseSyncMessage } from "../../runtime/monitor.ts";
import { runtimeLogErrors } from "../../runtime/oci.ts";
import { defaultSeccompProfile } from "../../runtime/spec/mod.ts";
import { containerConfig, kv } from "./fixture.ts";
import type { SandboxForContainer } from "../../runtime/contracts.ts";
import { makeTempDir } from "../helpers/env.ts";

const user = { uid: 0, gid: 0, additionalGids: [0], name: "root", home: "/root" };

Deno.test("args: command replaces entrypoint, args replace cmd, command alone drops cmd", () => {
  const image = { Entrypoint: ["/ep"], Cmd: ["c1", "c2"] };
  assertEquals(processArgs(containerConfig({}), image), ["/ep", "c1", "c2"]);
  assertEquals(processArgs(containerConfig({ args: ["a"] }), image), ["/ep", "a"]);
  assertEquals(processArgs(containerConfig({ command: ["/cmd"] }), image), ["/cmd"]);
  assertEquals(processArgs(containerConfig({ command: ["/cmd"], args: ["x"] }), image), [
    "/cmd",
    "x",
  ]);
  assertEquals(processArgs(containerConfig({}), { Entrypoint: [""], Cmd: ["sh"] }), ["sh"]);
  assertThrows(() => processArgs(containerConfig({}), {}), Error, "no command specified");
});

Deno.test("env: image env overridden by CRI env; PATH, HOME and HOSTNAME filled in", () => {
  const env = processEnv(
    containerConfig({ envs: [kv("FOO", "cri"), kv("NEW", "1")] }),
    { Env: ["FOO=img", "BAR=img", "PATH=/img/bin"] },
    user,
    "h1",
  );
  assertEquals(env.filter((e) => e.startsWith("FOO=")), ["FOO=cri"]);
  assert(env.includes("BAR=img"));
  assert(env.includes("NEW=1"));
  assert(env.includes("PATH=/img/bin"));
  assert(env.includes("HOME=/root"));
  assert(env.includes("HOSTNAME=h1"));
  const noPath = processEnv(containerConfig({}), {}, user, "");
  assert(noPath.some((e) => e.startsWith("PATH=/usr/local/sbin")));
});

Deno.test("capabilities: containerd's default set, add/drop, ALL, privileged", () => {
  assertEquals(capabilitySet(null), DEFAULT_CAPABILITIES);
  const sc = (add: string[], drop: string[]) => ({
    capabilities: { add_capabilities: add, drop_capabilities: drop, add_ambient_capabilities: [] },
    privileged: false,
    run_as_username: "",
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge" as const,
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    apparmor_profile: "",
    seccomp_profile_path: "",
  });
  const c1 = capabilitySet(sc(["NET_ADMIN"], ["CHOWN"]));
  assert(c1.includes("CAP_NET_ADMIN"));
  assert(!c1.includes("CAP_CHOWN"));
  assertEquals(capabilitySet(sc([], ["ALL"])), []);
  assertEquals(capabilitySet(sc(["SYS_TIME"], ["ALL"])), ["CAP_SYS_TIME"]);
  assertEquals(capabilitySet(sc(["ALL"], [])), ALL_CAPABILITIES);
  assertEquals(capabilitySet({ ...sc([], ["ALL"]), privileged: true }), ALL_CAPABILITIES);
  assertThrows(() => capabilitySet(sc(["BOGUS"], [])), Error, "unknown capability");
  // Skiff cannot give what it does not hold (no CAP_SYS_RESOURCE on some nodes)
  const avail = ALL_CAPABILITIES.filter((c) => c !== "CAP_SYS_RESOURCE");
  assert(!capabilitySet({ ...sc([], []), privileged: true }, avail).includes("CAP_SYS_RESOURCE"));
  assert(!capabilitySet(sc(["ALL"], []), avail).includes("CAP_SYS_RESOURCE"));
  assertThrows(() => capabilitySet(sc(["SYS_RESOURCE"], []), avail), Error, "does not hold it");
});

Deno.test("oom_score_adj: lowered requests are clamped to the floor when restricted", () => {
  assertEquals(clampOomScoreAdj(-999, 0), 0);
  assertEquals(clampOomScoreAdj(500, 0), 500);
  assertEquals(clampOomScoreAdj(-999, null), -999);
});

Deno.test("signals: CRI enum names, image StopSignal forms", () => {
  assertEquals(parseSignal("SIGINT"), "SIGINT");
  assertEquals(parseSignal("QUIT"), "SIGQUIT");
  assertEquals(parseSignal("9"), "9");
  assertEquals(parseSignal("RUNTIME_DEFAULT"), null);
  assertEquals(parseSignal("SIGRTMINPLUS1"), "35");
  assertEquals(parseSignal("bogus"), null);
});

Deno.test("conmon sync pipe and runc log parsing", () => {
  assertEquals(parseSyncMessage('{"data": 1234}\n'), { data: 1234 });
  assertEquals(parseSyncMessage('{"data": -1, "message": "boom"}'), { data: -1, message: "boom" });
  assertEquals(parseSyncMessage('{"data": 12'), null);
  assertEquals(
    runtimeLogErrors('{"level":"info","msg":"x"}\n{"level":"error","msg":"no such file"}\n'),
    ["no such file"],
  );
});

Deno.test("passwd/group parsing and user resolution inside the image root", async () => {
  const root = await makeTempDir("user");
  try {
    await Deno.mkdir(`${root}/etc`);
    await Deno.writeTextFile(
      `${root}/etc/passwd`,
      "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n# comment\nbad:line\n",
    );
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\napp:x:1001:\nextra:x:2000:app,x\n");
    assertEquals(parsePasswd(Deno.readTextFileSync(`${root}/etc/passwd`)).length, 2);
    assertEquals(parseGroup("g:x:5:a,b\n")[0].members, ["a", "b"]);
    const base = { supplementalGroups: [], strictGroups: false, imageUser: "" };
    assertEquals(resolveUser(root, base).uid, 0);
    const app = resolveUser(root, { ...base, username: "app" });
    assertEquals([app.uid, app.gid, app.additionalGids], [1000, 1001, [1001, 2000]]);
    assertEquals(resolveUser(root, { ...base, imageUser: "app:extra" }).gid, 2000);
    assertEquals(resolveUser(root, { ...base, imageUser: "1000" }).home, "/home/app");
    const strict = resolveUser(root, {
      ...base,
      uid: 1000,
      gid: 7,
      supplementalGroups: [9],
      strictGroups: true,
    });
    assertEquals([strict.gid, strict.additionalGids], [7, [7, 9]]);
    const unknown = resolveUser(root, { ...base, uid: 4242 });
    assertEquals([unknown.uid, unknown.gid, unknown.name], [4242, 0, null]);
    assertThrows(
      () => resolveUser(root, { ...base, username: "ghost" }),
      Error,
      "not in the image",
    );
    // A symlink in the image pointing at an absolute path stays inside the root.
    await Deno.mkdir(`${root}/x`);
    await Deno.symlink("/etc/shadow-not-here", `${root}/x/link`);
    assertEquals(resolveInRoot(root, "/x/link"), `${root}/etc/shadow-not-here`);
    await Deno.symlink("../../../../../etc", `${root}/x/up`);
    assertEquals(resolveInRoot(root, "/x/up/passwd"), `${root}/etc/passwd`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const sandbox: SandboxForContainer = {
  id: "sb1",
  name: "pod",
  namespace: "ns",
  uid: "u",
  state: "SANDBOX_READY",
  runtimeHandler: "runc",
  netnsPath: "/run/skiff/ns/net/sb1",
  ipcnsPath: "/run/skiff/ns/ipc/sb1",
  utsnsPath: "/run/skiff/ns/uts/sb1",
  pidnsPath: null,
  hostNetwork: false,
  hostIpc: false,
  hostPid: false,
  hostname: "pod-host",
  resolvConfPath: "/pods/sb1/resolv.conf",
  hostsPath: "/pods/sb1/hosts",
  hostnamePath: "/pods/sb1/hostname",
  shmPath: "/pods/sb1/shm",
  cgroupParent: "/kubepods/podabc",
  logDirectory: "/var/log/pods/x",
  sysctls: { "net.ipv4.ip_unprivileged_port_start": "0" },
  labels: {},
  annotations: {},
};

const host: SpecHost = {
  device: (p) => p === "/dev/fuse" ? { type: "c", path: p, major: 10, minor: 229 } : null,
  hostDevices: () => [{ type: "c", path: "/dev/kmsg", major: 1, minor: 11 }],
  mountPropagation: (p) => p.startsWith("/shared") ? "shared" : "private",
};

function input(over: Partial<SpecInput> = {}): SpecInput {
  return {
    id: "c1",
    config: containerConfig({ command: ["sh"] }),
    image: {},
    sandbox,
    rootfs: "/b/rootfs",
    user,
    pidNamespace: null,
    cgroupDriver: "cgroupfs",
    cgroupV2: false,
    oomScoreAdjFloor: 0,
    host,
    ...over,
  };
}

Deno.test("spec: namespaces, pod files, cgroups path, sysctls, default masks", () => {
  const s = buildSpec(input());
  assertEquals(s.linux.namespaces, [
    { type: "mount" },
    { type: "network", path: sandbox.netnsPath! },
    { type: "ipc", path: sandbox.ipcnsPath! },
    { type: "uts", path: sandbox.utsnsPath! },
    { type: "pid" },
  ]);
  const dst = s.mounts.map((m) => m.destination);
  for (const d of ["/proc", "/dev", "/sys", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname"]) {
    assert(dst.includes(d), `missing ${d}`);
  }
  assertEquals(s.mounts.find((m) => m.destination === "/dev/shm")?.source, "/pods/sb1/shm");
  assertEquals(s.linux.cgroupsPath, "/kubepods/podabc/skiff-c1");
  assertEquals(s.linux.sysctl, sandbox.sysctls);
  assertEquals(s.linux.maskedPaths, DEFAULT_MASKED_PATHS);
  assertEquals(s.hostname, "pod-host");
  assertEquals(s.linux.resources.devices, [{ allow: false, access: "rwm" }]);
  assertEquals(s.process.rlimits, [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }]);

  const sysd = buildSpec(
    input({
      cgroupDriver: "systemd",
      sandbox: { ...sandbox, cgroupParent: "kubepods-podabc.slice" },
    }),
  );
  assertEquals(sysd.linux.cgroupsPath, "kubepods-podabc.slice:skiff:c1");
  const hostPid = buildSpec(input({ pidNamespace: "host" }));
  assert(!hostPid.linux.namespaces.some((n) => n.type === "pid"));
  const podPid = buildSpec(input({ pidNamespace: "/proc/42/ns/pid" }));
  assert(podPid.linux.namespaces.some((n) => n.type === "pid" && n.path === "/proc/42/ns/pid"));
  const v2 = buildSpec(input({ cgroupV2: true }));
  assert(v2.linux.namespaces.some((n) => n.type === "cgroup" && !n.path), "own cgroup ns on v2");
  assert(!s.linux.namespaces.some((n) => n.type === "cgroup"), "host cgroup ns on v1");
  const hostNet = buildSpec(input({ sandbox: { ...sandbox, hostNetwork: true } }));
  assert(!hostNet.linux.namespaces.some((n) => n.type === "network"));
});

Deno.test("spec: resources, oom clamp, unified refused on cgroup v1", () => {
  const cfg = containerConfig({ command: ["sh"] });
  cfg.linux = {
    resources: {
      cpu_period: "100000",
      cpu_quota: "50000",
      cpu_shares: "512",
      memory_limit_in_bytes: "67108864",
      oom_score_adj: "-998",
      cpuset_cpus: "0",
      cpuset_mems: "",
      hugepage_limits: [{ page_size: "2MB", limit: "0" }],
      unified: {},
      memory_swap_limit_in_bytes: "67108864",
    },
  };
  const s = buildSpec(input({ config: cfg }));
  assertEquals(s.linux.resources.cpu, { shares: 512, quota: 50000, period: 100000, cpus: "0" });
  assertEquals(s.linux.resources.memory, { limit: 67108864, swap: 67108864 });
  assertEquals(s.linux.resources.hugepageLimits, [{ pageSize: "2MB", limit: 0 }]);
  const noHugetlb = buildSpec(input({ config: cfg, hugetlbAvailable: false }));
  assertEquals(noHugetlb.linux.resources.hugepageLimits, undefined);
  assertEquals(s.process.oomScoreAdj, 0);
  cfg.linux.resources!.unified = { "memory.high": "1000000" };
  assertThrows(() => buildSpec(input({ config: cfg })), Error, "cgroup v2");
  assertEquals(buildSpec(input({ config: cfg, cgroupV2: true })).linux.resources.unified, {
    "memory.high": "1000000",
  });
});

Deno.test("spec: mounts with propagation, rro, devices, privileged, seccomp, apparmor", () => {
  const cfg = containerConfig({
    command: ["sh"],
    mounts: [
      {
        container_path: "/data/deep",
        host_path: "/h/deep",
        readonly: false,
        selinux_relabel: false,
        propagation: "PROPAGATION_PRIVATE",
        uidMappings: [],
        gidMappings: [],
        recursive_read_only: false,
        image_sub_path: "",
      },
      {
        container_path: "/data",
        host_path: "/shared/d",
        readonly: true,
        selinux_relabel: false,
        propagation: "PROPAGATION_HOST_TO_CONTAINER",
        uidMappings: [],
        gidMappings: [],
        recursive_read_only: false,
        image_sub_path: "",
      },
      {
        container_path: "/ro",
        host_path: "/h/ro",
        readonly: true,
        selinux_relabel: false,
        propagation: "PROPAGATION_PRIVATE",
        uidMappings: [],
        gidMappings: [],
        recursive_read_only: true,
        image_sub_path: "",
      },
    ],
    devices: [{ container_path: "/dev/fuse", host_path: "/dev/fuse", permissions: "rw" }],
  });
  const s = buildSpec(input({ config: cfg }));
  const order = s.mounts.map((m) => m.destination).filter((d) =>
    ["/data", "/data/deep", "/ro"].includes(d)
  );
  assertEquals(order, ["/data", "/ro", "/data/deep"]);
  assertEquals(s.mounts.find((m) => m.destination === "/data")?.options, ["rbind", "rslave", "ro"]);
  assertEquals(s.mounts.find((m) => m.destination === "/ro")?.options, [
    "rbind",
    "rprivate",
    "rro",
  ]);
  assertEquals(s.linux.rootfsPropagation, "rslave");
  assertEquals(s.linux.devices, [{ type: "c", path: "/dev/fuse", major: 10, minor: 229 }]);
  assert(s.linux.resources.devices.some((d) => d.allow && d.major === 10 && d.access === "rw"));

  const bidiPrivate = containerConfig({
    command: ["sh"],
    mounts: [{ ...cfg.mounts[0], propagation: "PROPAGATION_BIDIRECTIONAL" }],
  });
  assertThrows(() => buildSpec(input({ config: bidiPrivate })), Error, "not shared");

  const priv = containerConfig({ command: ["sh"] });
  priv.linux = {
    security_context: {
      ...secCtx(),
      privileged: true,
      seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
    },
  };
  const ps = buildSpec(input({ config: priv }));
  assertEquals(ps.linux.maskedPaths, []);
  assertEquals(ps.linux.readonlyPaths, []);
  assertEquals(ps.linux.seccomp, undefined);
  assert(ps.linux.devices.some((d) => d.path === "/dev/kmsg"));
  assertEquals(ps.mounts.find((m) => m.destination === "/sys")?.options.at(-1), "rw");

  const rd = containerConfig({ command: ["sh"] });
  rd.linux = {
    security_context: {
      ...secCtx(),
      seccomp: { profile_type: "RuntimeDefault", localhost_ref: "" },
      masked_paths: ["/proc/x"],
      readonly_paths: ["/proc/y"],
    },
  };
  const rs = buildSpec(input({ config: rd }));
  assertEquals(rs.linux.seccomp?.defaultAction, "SCMP_ACT_ERRNO");
  assertEquals([rs.linux.maskedPaths, rs.linux.readonlyPaths], [["/proc/x"], ["/proc/y"]]);

  const aa = containerConfig({ command: ["sh"] });
  aa.linux = {
    security_context: {
      ...secCtx(),
      apparmor: { profile_type: "Localhost", localhost_ref: "my-prof" },
    },
  };
  assertThrows(() => buildSpec(input({ config: aa })), Error, "no AppArmor");
  const cdi = containerConfig({ command: ["sh"], CDI_devices: [{ name: "vendor.com/gpu=0" }] });
  assertThrows(() => buildSpec(input({ config: cdi })), Error, "CDI devices");
  const uns = containerConfig({ command: ["sh"] });
  uns.linux = {
    security_context: {
      ...secCtx(),
      namespace_options: {
        network: "POD",
        pid: "CONTAINER",
        ipc: "POD",
        target_id: "",
        userns_options: { mode: "POD", uids: [], gids: [] },
      },
    },
  };
  assertThrows(() => buildSpec(input({ config: uns })), Error, "user namespaces");
  aa.linux.security_context!.apparmor = { profile_type: "RuntimeDefault", localhost_ref: "" };
  buildSpec(input({ config: aa }));
});

Deno.test("seccomp default: privileged syscalls open only with their capability", () => {
  const names = (p: ReturnType<typeof defaultSeccompProfile>) =>
    new Set(
      p.syscalls!.filter((s) => s.action === "SCMP_ACT_ALLOW" && !s.args).flatMap((s) => s.names),
    );
  const plain = names(defaultSeccompProfile(DEFAULT_CAPABILITIES));
  assert(plain.has("read") && plain.has("execve"));
  assert(!plain.has("unshare") && !plain.has("mount") && !plain.has("keyctl"));
  const admin = names(defaultSeccompProfile([...DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]));
  assert(admin.has("unshare") && admin.has("mount"));
});

function secCtx() {
  return {
    privileged: false,
    run_as_username: "",
    readonly_rootfs: false,
    supplemental_groups: [],
    supplemental_groups_policy: "Merge" as const,
    no_new_privs: false,
    masked_paths: [],
    readonly_paths: [],
    apparmor_profile: "",
    seccomp_profile_path: "",
  };
}
