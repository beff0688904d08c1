import assert from "node:assert/strict";
import { byNewest, isoFromNanos, podIps, restartCount } from "./views.ts";

Deno.test("views: CRI nanoseconds → ISO time, null for never", () => {
  assert.equal(isoFromNanos(undefined), null);
  assert.equal(isoFromNanos("0"), null);
  assert.equal(isoFromNanos("1700000000123456789"), "2023-11-14T22:13:20.123Z");
});

Deno.test("views: restart count from kubelet's annotation, else the attempt", () => {
  assert.equal(
    restartCount({ annotations: { "io.kubernetes.container.restartCount": "3" } }),
    3,
  );
  assert.equal(
    restartCount({
      annotations: { "io.kubernetes.container.restartCount": "x" },
      metadata: { attempt: 2 },
    }),
    2,
  );
  assert.equal(restartCount({ annotations: {} }), 0);
});

Deno.test("views: pod IPs skip empty ones; newest first", () => {
  assert.deepEqual(
    podIps(
      { network: { ip: "10.0.0.2", additional_ips: [{ ip: "" }, { ip: "fd00::2" }] } } as never,
    ),
    ["10.0.0.2", "fd00::2"],
  );
  assert.deepEqual(podIps(null), []);
  const list = [{ created_at: "1" }, { created_at: "3" }, { created_at: "2" }].sort(byNewest);
  assert.deepEqual(list.map((x) => x.created_at), ["3", "2", "1"]);
});
