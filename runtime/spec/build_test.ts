/**
 * The whole config.json of two representative containers, pinned byte for byte (key order
 * included) against testdata/*.json, which was generated before buildSpec was split into
 * spec options: any change to the output shows here.
 */
import { assert, assertEquals, assertThrows } from "../../tests/container/assert.ts";
import { buildSpec, DEFAULT_MASKED_PATHS, type OciSpec, type SpecInput } from "./mod.ts";
import {
  bindMount,
  containerConfig,
  input,
  ordinaryContainer,
  privilegedContainer,
  sandbox,
  secCtx,
} from "./testdata/inputs.ts";

function pinned(name: string): string {
  const text = Deno.readTextFileSync(new URL(`./testdata/${name}`, import.meta.url));
  const spec = JSON.parse(text) as OciSpec;
  // The RuntimeDefault profile names the host's architectures; the fixture was made on x86_64.
  if (spec.linux.seccomp && Deno.build.arch === "aarch64") {
    spec.linux.seccomp.architectures = ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"];
  }
  return JSON.stringify(spec);
}

Deno.test("spec: an ordinary pod container's whole spec is unchanged", () => {
  assertEquals(JSON.stringify(buildSpec(ordinaryContainer())), pinned("ordinary_spec.json"));
});

Deno.test("spec: a privileged host-network container's whole spec is unchanged", () => {
  assertEquals(JSON.stringify(buildSpec(privilegedContainer())), pinned("privileged_spec.json"));
});

Deno.test("spec: of several problems, the same one is reported first", () => {
  const base = ordinaryContainer();
  const sc = base.config.linux!.security_context!;
  const withConfig = (over: Partial<typeof base.config>, scOver = {}): SpecInput => ({
    ...base,
    config: {
      ...base.config,
      ...over,
      linux: { ...base.config.linux, security_context: { ...sc, ...scOver } },
    },
  });
  const badMount = [bindMount("relative", "/h/x")];
  const cdi = [{ name: "vendor.com/gpu=0" }];
  const seccompMissing = { seccomp: { profile_type: "Localhost" as const, localhost_ref: "x" } };
  const cases: [SpecInput, string][] = [
    [
      withConfig({ CDI_devices: cdi }, {
        capabilities: { ...sc.capabilities!, add_capabilities: ["BOGUS"] },
      }),
      "unknown capability",
    ],
    [
      withConfig({ CDI_devices: cdi }, {
        apparmor: { profile_type: "Localhost", localhost_ref: "p" },
      }),
      "no AppArmor",
    ],
    [withConfig({ CDI_devices: cdi, mounts: badMount }), "CDI devices"],
    [
      withConfig({
        mounts: badMount,
        devices: [{ container_path: "", host_path: "/dev/null", permissions: "" }],
      }),
      "mount container_path",
    ],
    [
      withConfig(
        { devices: [{ container_path: "", host_path: "/dev/null", permissions: "" }] },
        seccompMissing,
      ),
      "not a device node",
    ],
    [withConfig({ command: [], args: [] }, seccompMissing), "seccomp Localhost profile"],
    [{ ...withConfig({ command: [], args: [] }), image: {} }, "no command specified"],
    [{ ...withConfig({}), cgroupV2: false }, "needs cgroup v2"],
  ];
  for (const [input, message] of cases) assertThrows(() => buildSpec(input), Error, message);
  const uns = containerConfig({ command: ["sh"], mounts: badMount });
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
  assertThrows(() => buildSpec({ ...base, config: uns }), Error, "user namespace");
});

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
  // Privileged is unconfined whatever profile it names: a Localhost one is not even read.
  for (
    const seccomp of [
      { profile_type: "Localhost" as const, localhost_ref: "/nonexistent/profile.json" },
      { profile_type: "Localhost" as const, localhost_ref: "/etc/hostname" },
    ]
  ) {
    priv.linux.security_context!.seccomp = seccomp;
    assertEquals(buildSpec(input({ config: priv })).linux.seccomp, undefined);
  }
  priv.linux.security_context!.seccomp = null;
  priv.linux.security_context!.seccomp_profile_path = "localhost//nonexistent.json";
  assertEquals(buildSpec(input({ config: priv })).linux.seccomp, undefined);
  priv.linux.security_context!.seccomp_profile_path = "bogus";
  assertThrows(() => buildSpec(input({ config: priv })), Error, "not understood");
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
  assertThrows(() => buildSpec(input({ config: uns })), Error, "user namespace");
  aa.linux.security_context!.apparmor = { profile_type: "RuntimeDefault", localhost_ref: "" };
  buildSpec(input({ config: aa }));
});
