import { assertEquals, assertThrows } from "../../tests/container/assert.ts";
import type { NamespaceMode } from "../contracts.ts";
import { buildSpec } from "./mod.ts";
import { containerConfig, input, sandbox, secCtx } from "./testdata/inputs.ts";

const MAP = { container_id: 0, host_id: 1000, length: 100000 };
const userPod = {
  ...sandbox,
  usernsPath: "/run/skiff/ns/p-user",
  idMappings: { uids: MAP, gids: MAP },
};

function withUserns(mode: NamespaceMode) {
  const c = containerConfig({ command: ["sh"] });
  c.linux = {
    security_context: {
      ...secCtx(),
      namespace_options: {
        network: "POD",
        pid: "CONTAINER",
        ipc: "POD",
        target_id: "",
        userns_options: { mode, uids: [MAP], gids: [MAP] },
      },
    },
  };
  return c;
}

Deno.test("spec: a container of a user-namespaced pod joins it by path, with its mappings", () => {
  const s = buildSpec(input({ sandbox: userPod, config: withUserns("POD") }));
  assertEquals(s.linux.namespaces.slice(0, 2), [
    { type: "mount" },
    { type: "user", path: "/run/skiff/ns/p-user" },
  ]);
  assertEquals(s.linux.uidMappings, [{ containerID: 0, hostID: 1000, size: 100000 }]);
  assertEquals(s.linux.gidMappings, [{ containerID: 0, hostID: 1000, size: 100000 }]);
  // The host's user namespace: no user entry, no mappings.
  const plain = buildSpec(input());
  assertEquals(plain.linux.namespaces.some((n) => n.type === "user"), false);
  assertEquals(plain.linux.uidMappings, undefined);
});

Deno.test("spec: a container's userns mode must be its pod's", () => {
  assertThrows(
    () => buildSpec(input({ config: withUserns("POD") })),
    Error,
    "host's user namespace",
  );
  assertThrows(
    () => buildSpec(input({ sandbox: userPod, config: withUserns("NODE") })),
    Error,
    "has a user namespace of its own",
  );
  for (const mode of ["CONTAINER", "TARGET"] as const) {
    assertThrows(
      () => buildSpec(input({ sandbox: userPod, config: withUserns(mode) })),
      Error,
      mode,
    );
  }
});
