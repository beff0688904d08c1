import assert from "node:assert/strict";
import {
  containerListFilter,
  containerStatsFilter,
  imageListFilter,
  pages,
  podSandboxListFilter,
  podSandboxStatsFilter,
} from "./list.ts";

Deno.test("list filters: empty strings and absent state mean any", () => {
  assert.deepEqual(containerListFilter(null), {
    id: undefined,
    state: undefined,
    sandboxId: undefined,
    labels: {},
  });
  assert.deepEqual(
    containerListFilter({
      id: "",
      pod_sandbox_id: "p1",
      state: { state: "CONTAINER_RUNNING" },
      label_selector: { app: "x" },
    }),
    { id: undefined, state: "CONTAINER_RUNNING", sandboxId: "p1", labels: { app: "x" } },
  );
  assert.deepEqual(podSandboxListFilter({ id: "p", state: null, label_selector: {} }), {
    id: "p",
    state: undefined,
    labelSelector: {},
  });
  assert.equal(imageListFilter({ image: { image: "" } }), undefined);
  assert.equal(imageListFilter({ image: { image: "busybox" } }), "busybox");
});

Deno.test("stats filters: id, pod and every selected label must match", () => {
  const c = { id: "c1", sandboxId: "p1", labels: { app: "x", tier: "web" } };
  assert.equal(containerStatsFilter(null)(c), true);
  assert.equal(
    containerStatsFilter({ pod_sandbox_id: "p1", label_selector: { app: "x" } })(c),
    true,
  );
  assert.equal(containerStatsFilter({ pod_sandbox_id: "p2" })(c), false);
  assert.equal(containerStatsFilter({ label_selector: { app: "y" } })(c), false);
  assert.equal(podSandboxStatsFilter({ id: "p1" })({ id: "p1", labels: {} }), true);
  assert.equal(podSandboxStatsFilter({ id: "p1" })({ id: "p2", labels: {} }), false);
});

Deno.test("pages: fixed-size pages; one empty page for nothing", () => {
  assert.deepEqual(pages([], 2), [[]]);
  assert.deepEqual(pages([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
});
