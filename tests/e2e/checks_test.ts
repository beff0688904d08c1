/** kubeletErrorLines: which kubelet error lines count against the runtime. */
import assert from "node:assert/strict";
import { kubeletErrorLines } from "./checks.ts";

const line = (msg: string) => `E1130 03:34:21.822031   13686 kubelet.go:2268] ${msg}`;

Deno.test("kubeletErrorLines: start-up and host lines pass, CRI failures count", () => {
  const ok = [
    line(
      `"Skipping pod synchronization" err="container runtime status check may not have completed yet"`,
    ),
    line(
      `"Skipping pod synchronization" err="[container runtime status check may not have completed yet, PLEG is not healthy: pleg has yet to be successful]"`,
    ),
    line(`"Failed to set rlimit on max file handles" err="operation not permitted"`),
    line(
      `"eviction manager: failed to check if we have separate container filesystem. Ignoring." err="no imagefs label for configured runtime"`,
    ),
    `I1130 03:34:21.822031   13686 kubelet.go:1] "info line"`,
  ];
  const bad = [
    line(`"Skipping pod synchronization" err="container runtime is down"`),
    line(`"ContainerStatus from runtime service failed" err="rpc error: code = NotFound"`),
    line(
      `"eviction manager: failed to check if we have separate container filesystem. Ignoring." err="rpc error: code = Unavailable"`,
    ),
  ];
  assert.deepEqual(kubeletErrorLines([...ok, ...bad].join("\n")), bad);
});

Deno.test("kubeletErrorLines: NotFound for another runtime's container does not count", () => {
  const status = (id: string) =>
    line(
      `"ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"${id}\\" not found" containerID="${id}"`,
    );
  const ours = "a".repeat(64), foreign = "b".repeat(64);
  const log = [status(ours), status(foreign)].join("\n");
  assert.deepEqual(kubeletErrorLines(log, (id) => id === ours), [status(ours)]);
  assert.deepEqual(kubeletErrorLines(log), [status(ours), status(foreign)]);
});
