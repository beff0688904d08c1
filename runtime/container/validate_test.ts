import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import { bindMount, containerConfig, kv, sandbox, secCtx } from "../spec/testdata/inputs.ts";
import type { ContainerConfig } from "../model.ts";
import { validateContainerConfig } from "./validate.ts";

function refused(config: ContainerConfig, msg: RegExp, sb = sandbox): void {
  assert.throws(() => validateContainerConfig(config, sb), (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.match(e.message, msg);
    return true;
  });
}

function withSc(over: Partial<ReturnType<typeof secCtx>>): ContainerConfig {
  const c = containerConfig({ command: ["sh"] });
  c.linux = { security_context: { ...secCtx(), ...over } };
  return c;
}

Deno.test("container validation: what kubelet sends passes", () => {
  const c = containerConfig({
    metadata: { name: "app", attempt: 3 },
    command: ["/bin/app"],
    args: ["--x=1"],
    working_dir: "/srv",
    envs: [kv("A", "1"), kv("EMPTY", "")],
    log_path: "app/3.log",
    mounts: [bindMount("/data", "/var/lib/kubelet/pods/u/volumes/x")],
    devices: [{ container_path: "/dev/f", host_path: "/dev/fuse", permissions: "rw" }],
  });
  c.linux = {
    security_context: {
      ...secCtx(),
      run_as_user: { value: "1000" },
      run_as_group: { value: "2000" },
      supplemental_groups: ["3000"],
    },
  };
  validateContainerConfig(c, sandbox);
  validateContainerConfig(
    withSc({ run_as_username: "app", run_as_group: { value: "1" } }),
    sandbox,
  );
  validateContainerConfig(withSc({ privileged: true }), { ...sandbox, privileged: true });
});

Deno.test("container validation: a privileged container in an unprivileged pod names both", () => {
  refused(
    withSc({ privileged: true }),
    /container "c\d+" asks to be privileged, but its pod sandbox sb1 \(ns\/pod\) is not privileged/,
  );
});

Deno.test("container validation: run_as_group without a user (containerd's wording)", () => {
  refused(withSc({ run_as_group: { value: "10" } }), /user group "10" is specified without user/);
  refused(withSc({ run_as_user: { value: "-1" } }), /run_as_user "-1" must be 0-4294967294/);
  refused(
    withSc({ run_as_user: { value: "1" }, run_as_group: { value: "4294967295" } }),
    /run_as_group/,
  );
  refused(withSc({ supplemental_groups: ["x"] }), /supplemental group "x"/);
});

Deno.test("container validation: names, working_dir and log_path", () => {
  refused(containerConfig({ metadata: { name: "a/b", attempt: 0 } }), /container name "a\/b"/);
  refused(containerConfig({ metadata: { name: "a;b", attempt: 0 } }), /container name/);
  refused(containerConfig({ working_dir: "relative/dir" }), /working_dir .* must be an absolute/);
  refused(containerConfig({ working_dir: "/a\0b" }), /without NUL/);
  for (const p of ["/abs.log", "../x.log", "a/../../x.log", "dir/", "a/.", ".."]) {
    refused(containerConfig({ log_path: p }), /log_path .* relative to the pod's log directory/);
  }
  refused(
    containerConfig({ log_path: "c/0.log" }),
    /pod sandbox sb1 has no log_directory/,
    { ...sandbox, logDirectory: "" },
  );
  validateContainerConfig(containerConfig({ log_path: "" }), { ...sandbox, logDirectory: "" });
});

Deno.test("container validation: argv, env, mount and device paths reach execve and mount", () => {
  refused(containerConfig({ command: ["sh", "a\0b"] }), /command\/args/);
  refused(containerConfig({ args: ["x".repeat(128 * 1024)] }), /shorter than 131072/);
  refused(containerConfig({ envs: [kv("A=B", "1")] }), /environment variable "A=B"/);
  refused(containerConfig({ envs: [kv("", "1")] }), /environment variable ""/);
  refused(containerConfig({ envs: [kv("A", "a\0b")] }), /value without NUL/);
  refused(containerConfig({ envs: [kv("BIG", "x".repeat(200000))] }), /200000 bytes/);
  refused(containerConfig({ mounts: [bindMount("rel", "/h")] }), /mount container_path/);
  refused(containerConfig({ mounts: [bindMount("/c", "h")] }), /mount host_path/);
  refused(
    containerConfig({ devices: [{ container_path: "", host_path: "fuse", permissions: "" }] }),
    /device host_path/,
  );
});
