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
