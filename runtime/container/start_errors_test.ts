import assert from "node:assert/strict";
import { InternalError, InvalidArgumentError } from "../../core/errors.ts";
import { redactStatePaths, startFailure } from "./start_errors.ts";

const paths = {
  rootfs: "/run/skiff/containers/abc/rootfs",
  bundleDir: "/run/skiff/containers/abc",
  stateDir: "/run/skiff",
  rootDir: "/var/lib/skiff",
};

Deno.test("start failures: Skiff's paths are taken out, rootfs paths shown as inside", () => {
  assert.equal(
    redactStatePaths(
      `error mounting "/tmp" to rootfs at "/proc": "/run/skiff/containers/abc/rootfs/proc" ` +
        `cannot be mounted; log /run/skiff/containers/abc/runtime.log; ` +
        `socket /run/skiff/attach/x; layer /var/lib/skiff/layers/1; root /run/skiff/containers/abc/rootfs`,
      paths,
    ),
    `error mounting "/tmp" to rootfs at "/proc": "/proc" cannot be mounted; ` +
      `log <bundle>/runtime.log; socket <state_dir>/attach/x; layer <root_dir>/layers/1; root /`,
  );
});

Deno.test("start failures: the container's own faults are INVALID_ARGUMENT, others INTERNAL", () => {
  const own = [
    'runc create failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory',
    "runc create failed: unable to start container process: error during container init: mkdir /etc/passwd: not a directory",
    'error during container init: error mounting "/etc/hostname" to rootfs at "/tmp": not a directory',
    'unable to apply cgroup configuration: failed to write "999": write /sys/fs/cgroup/cpuset/x/cpuset.cpus: numerical result out of range',
    "error during container init: error setting cgroup config for procHooks process: unable to set memory limit to 1",
  ];
  for (const reason of own) {
    const e = startFailure("abc", reason, paths);
    assert.ok(e instanceof InvalidArgumentError, reason);
    assert.match(e.message, /^container abc cannot start as configured: /);
  }
  const e = startFailure(
    "abc",
    "conmon exited before it started (code 1): cannot open /run/skiff/containers/abc/x",
    paths,
  );
  assert.ok(e instanceof InternalError);
  assert.equal(
    e.message,
    "failed to start container abc: conmon exited before it started (code 1): cannot open <bundle>/x",
  );
});
