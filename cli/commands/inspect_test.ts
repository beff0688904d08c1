import assert from "node:assert/strict";
import { FlagError, UsageError } from "../command.ts";
import { expandInfo, objectKind, parseInspectArgs } from "./inspect.ts";

Deno.test("inspect: --type", () => {
  assert.equal(parseInspectArgs(["--type", "pod", "x"]).values.type, "pod");
  assert.throws(() => parseInspectArgs(["-f", "x"]), FlagError);
  assert.equal(objectKind(undefined), undefined);
  assert.equal(objectKind("image"), "image");
  assert.throws(() => objectKind("volume"), new UsageError("--type: use container, pod or image"));
});

Deno.test("inspect: verbose info values shown as JSON", () => {
  assert.deepEqual(expandInfo({ status: 1, info: { info: '{"pid":7}', raw: "not json" } }), {
    status: 1,
    info: { info: { pid: 7 }, raw: "not json" },
  });
  assert.deepEqual(expandInfo({ image: null }), { image: null });
});
