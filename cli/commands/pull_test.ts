import assert from "node:assert/strict";
import { FlagError, UsageError } from "../command.ts";
import { credsAuth, parsePullArgs, pullLine } from "./pull.ts";

Deno.test("pull: --creds", () => {
  assert.equal(parsePullArgs(["img", "--creds", "u:p"]).values.creds, "u:p");
  assert.throws(() => parsePullArgs(["img", "-a"]), FlagError);
  assert.equal(credsAuth(undefined), null);
  assert.deepEqual(credsAuth("user:pa:ss"), { username: "user", password: "pa:ss" });
  assert.throws(() => credsAuth("user"), new UsageError("--creds: expected USER:PASSWORD"));
});

Deno.test("pull: the progress line", () => {
  assert.match(pullLine("busybox", 0, null, 5, 1500), /^Pulling busybox \[ +<=> +\] 1\.5s$/);
  const layers = new Map([["a", { done: 500, total: 500 }], ["b", { done: 0, total: 1500 }]]);
  assert.equal(
    pullLine("busybox", 0, { done: 500, total: 2000, layers }, 3, 2000),
    `Pulling busybox [=======>${" ".repeat(22)}] 500B/2kB 1/2 layers 2.0s`,
  );
});
