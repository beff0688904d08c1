import assert from "node:assert/strict";
import type { Container } from "../../cri/types.ts";
import { FlagError, UsageError } from "../command.ts";
import { containerFilter, containerTable, parsePsArgs } from "./ps.ts";

Deno.test("ps: flags", () => {
  const { values } = parsePsArgs(["-a", "-q", "--pod", "p1", "--label", "a=b", "--label", "c=d"]);
  assert.equal(values.all, true);
  assert.equal(values.quiet, true);
  assert.equal(values.pod, "p1");
  assert.deepEqual(values.label, ["a=b", "c=d"]);
  assert.equal(values.output, "table");
  assert.equal(parsePsArgs(["-o", "json"]).values.output, "json");
  assert.throws(() => parsePsArgs(["--follow"]), FlagError);
  assert.throws(() => parsePsArgs(["--namespace", "x"]), FlagError);
});

Deno.test("ps: the ListContainers filter: running unless -a or --state", () => {
  assert.deepEqual(containerFilter({}), {
    pod_sandbox_id: "",
    state: { state: "CONTAINER_RUNNING" },
    label_selector: {},
  });
  assert.equal(containerFilter({ all: true }).state, null);
  assert.deepEqual(containerFilter({ all: true, state: "Exited" }).state, {
    state: "CONTAINER_EXITED",
  });
  assert.deepEqual(containerFilter({ pod: "p", label: ["k=v=w"] }).label_selector, { k: "v=w" });
  assert.throws(
    () => containerFilter({ state: "sleepy" }),
    new UsageError("--state sleepy: use created, running, exited or unknown"),
  );
  assert.throws(() => containerFilter({ label: ["=v"] }), UsageError);
});

Deno.test("ps: the table", () => {
  const c = {
    id: "0123456789abcdef",
    pod_sandbox_id: "fedcba9876543210",
    metadata: { name: "web", attempt: 2 },
    image: { image: "busybox:1.36" },
    image_ref: "sha256:aaa",
    state: "CONTAINER_EXITED",
    created_at: "0",
  } as unknown as Container;
  const out = containerTable([c], new Map([["fedcba9876543210", "pod-a"]]));
  const [header, row] = out.split("\n");
  assert.match(header, /^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME\s+ATTEMPT\s+POD ID\s+POD$/);
  assert.match(row, /^0123456789abc\s+busybox:1\.36\s+Exited\s+web\s+2\s+fedcba9876543\s+pod-a$/);
});
