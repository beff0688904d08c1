/**
 * The whole config.json of two representative containers, pinned byte for byte (key order
 * included) against testdata/*.json, which was generated before buildSpec was split into
 * spec options: any change to the output shows here.
 */
import { assertEquals, assertThrows } from "../../tests/container/assert.ts";
import { buildSpec, type OciSpec, type SpecInput } from "./mod.ts";
import {
  bindMount,
  containerConfig,
  ordinaryContainer,
  privilegedContainer,
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
  assertThrows(() => buildSpec({ ...base, config: uns }), Error, "user namespaces");
});
