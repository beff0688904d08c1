import assert from "node:assert/strict";
import { defaultConfig } from "../core/config/mod.ts";
import { InvalidArgumentError } from "../core/errors.ts";
import { ociRuntimeFor, runtimeLogErrors } from "./oci.ts";

Deno.test('ociRuntimeFor: "" is the default handler, with its root and options', () => {
  const config = defaultConfig();
  config.runtime.handlers.fast = {
    binary: "crun",
    root: "",
    options: ["--x"],
    user_namespaces: true,
  };
  const def = ociRuntimeFor(config, "");
  assert.equal(def.name, config.runtime.default_handler);
  const fast = ociRuntimeFor(config, "fast");
  assert.equal(fast.runtime.binary, "crun");
  assert.equal(fast.runtime.root, `${config.state_dir}/runtimes/fast`);
  assert.deepEqual(fast.runtime.options, ["--x"]);
  assert.equal(fast.config.user_namespaces, true);
});

Deno.test("ociRuntimeFor: an unknown handler is invalid, naming the configured ones", () => {
  const config = defaultConfig();
  assert.throws(
    () => ociRuntimeFor(config, "kata"),
    (err: unknown) =>
      err instanceof InvalidArgumentError &&
      /unknown runtime handler "kata"; configured handlers: runc/.test(err.message),
  );
});

Deno.test("runtimeLogErrors: error lines of a runc JSON log, and non-JSON lines", () => {
  assert.deepEqual(
    runtimeLogErrors('{"level":"info","msg":"x"}\n{"level":"error","msg":"no such file"}\n'),
    ["no such file"],
  );
  assert.deepEqual(runtimeLogErrors("plain failure\n"), ["plain failure"]);
});
