import assert from "node:assert/strict";
import { MetricsRegistry } from "./metrics.ts";

Deno.test("metrics: registering a name twice throws, naming the metric", () => {
  const r = new MetricsRegistry();
  r.counter("skiff_things_total", "Things.");
  assert.throws(() => r.counter("skiff_things_total", "Things again."), /skiff_things_total/);
  // Whatever the kind of the second registration.
  assert.throws(() => r.histogram("skiff_things_total", "A histogram."), /skiff_things_total/);
  assert.throws(() => r.gauge("skiff_things_total", "A gauge."), /already registered/);
});

Deno.test("metrics: distinct names coexist and render in registration order", () => {
  const r = new MetricsRegistry();
  r.counter("a_total", "A.").inc({ kind: "x" }, 2);
  r.gauge("b", "B.").set({}, 3);
  r.histogram("c_seconds", "C.", [1]).observe({}, 0.5);
  const text = r.render();
  assert(
    text.indexOf("a_total") < text.indexOf("# HELP b ") && text.includes('a_total{kind="x"} 2'),
  );
  assert(text.includes("b 3\n"));
  assert(text.includes('c_seconds_bucket{le="1"} 1') && text.includes("c_seconds_count 1"));
});

Deno.test("metrics: one series per label set, whatever order the labels come in", () => {
  const r = new MetricsRegistry();
  const calls = r.counter("calls_total", "Calls.");
  calls.inc({ method: "Version", code: "OK" });
  calls.inc({ code: "OK", method: "Version" }, 2);
  calls.inc({ method: "Status", code: "OK" });
  assert.equal(calls.get({ method: "Version", code: "OK" }), 3);
  assert.equal(calls.get({ code: "OK", method: "Status" }), 1);
  assert.equal(calls.get({}), 0);
  const latency = r.histogram("latency_seconds", "Latency.", [1]);
  latency.observe({ b: "2", a: "1" }, 0.5);
  latency.observe({ a: "1", b: "2" }, 2);
  assert.equal(latency.count({ a: "1", b: "2" }), 2);
});
