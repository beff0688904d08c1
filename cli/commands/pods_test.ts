import assert from "node:assert/strict";
import type { PodSandbox } from "../../cri/types.ts";
import { FlagError, UsageError } from "../command.ts";
import { parsePodsArgs, podFilter, podTable } from "./pods.ts";

Deno.test("pods: flags and filter", () => {
  const { values } = parsePodsArgs(["--namespace", "kube-system", "--state", "notready", "-q"]);
  assert.equal(values.namespace, "kube-system");
  assert.equal(values.quiet, true);
  assert.deepEqual(podFilter(values), {
    state: { state: "SANDBOX_NOTREADY" },
    label_selector: {},
  });
  assert.deepEqual(podFilter({}), { state: null, label_selector: {} });
  assert.throws(
    () => podFilter({ state: "running" }),
    new UsageError("--state running: use ready or notready"),
  );
  assert.throws(() => parsePodsArgs(["-a"]), FlagError);
});

Deno.test("pods: the table", () => {
  const p = {
    id: "0123456789abcdef",
    metadata: { name: "web", namespace: "default", attempt: 0 },
    state: "SANDBOX_NOTREADY",
    created_at: "0",
    runtime_handler: "",
  } as unknown as PodSandbox;
  const [, row] = podTable([p]).split("\n");
  assert.match(row, /^0123456789abc\s+NotReady\s+web\s+default\s+0\s+\(default\)$/);
});
