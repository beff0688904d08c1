import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import { CONTAINER_STATE_PARAMS, POD_STATE_PARAMS } from "../states.ts";
import { parseLabels, parseState } from "./params.ts";

Deno.test("params: labels are key=value, the value may hold '='", () => {
  assert.deepEqual(parseLabels(["app=web", "x=a=b"]), { app: "web", x: "a=b" });
  assert.throws(() => parseLabels(["=v"]), InvalidArgumentError);
  assert.throws(() => parseLabels(["novalue"]), /expected key=value/);
});

Deno.test("params: state words, any case, or the CRI literal", () => {
  assert.equal(parseState(undefined, POD_STATE_PARAMS, "pod state"), undefined);
  assert.equal(parseState("", POD_STATE_PARAMS, "pod state"), undefined);
  assert.equal(parseState("Ready", POD_STATE_PARAMS, "pod state"), "SANDBOX_READY");
  assert.equal(
    parseState("CONTAINER_EXITED", CONTAINER_STATE_PARAMS, "container state"),
    "CONTAINER_EXITED",
  );
  assert.throws(
    () => parseState("bogus", POD_STATE_PARAMS, "pod state"),
    /expected one of ready, notready, sandbox_ready, sandbox_notready \(pod state\)/,
  );
});
