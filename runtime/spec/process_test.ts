/** Unit tests of the container process: argv and environment. */
import { assert, assertEquals, assertThrows } from "../../tests/container/assert.ts";
import { buildSpec, processArgs, processEnv } from "./mod.ts";
import { containerConfig, input, kv } from "./testdata/inputs.ts";

const user = { uid: 0, gid: 0, additionalGids: [0], name: "root", home: "/root" };

Deno.test("args: command replaces entrypoint, args replace cmd, command alone drops cmd", () => {
  const image = { Entrypoint: ["/ep"], Cmd: ["c1", "c2"] };
  assertEquals(processArgs(containerConfig({}), image), ["/ep", "c1", "c2"]);
  assertEquals(processArgs(containerConfig({ args: ["a"] }), image), ["/ep", "a"]);
  assertEquals(processArgs(containerConfig({ command: ["/cmd"] }), image), ["/cmd"]);
  assertEquals(processArgs(containerConfig({ command: ["/cmd"], args: ["x"] }), image), [
    "/cmd",
    "x",
  ]);
  assertEquals(processArgs(containerConfig({}), { Entrypoint: [""], Cmd: ["sh"] }), ["sh"]);
  assertThrows(() => processArgs(containerConfig({}), {}), Error, "no command specified");
});

Deno.test("env: image env overridden by CRI env; PATH, HOME and HOSTNAME filled in", () => {
  const env = processEnv(
    containerConfig({ envs: [kv("FOO", "cri"), kv("NEW", "1")] }),
    { Env: ["FOO=img", "BAR=img", "PATH=/img/bin"] },
    user,
    "h1",
  );
  assertEquals(env.filter((e) => e.startsWith("FOO=")), ["FOO=cri"]);
  assert(env.includes("BAR=img"));
  assert(env.includes("NEW=1"));
  assert(env.includes("PATH=/img/bin"));
  assert(env.includes("HOME=/root"));
  assert(env.includes("HOSTNAME=h1"));
  const noPath = processEnv(containerConfig({}), {}, user, "");
  assert(noPath.some((e) => e.startsWith("PATH=/usr/local/sbin")));
});

Deno.test("cwd: the CRI working_dir, else the image's (made absolute), else /", () => {
  const cwd = (working_dir: string, WorkingDir?: string) =>
    buildSpec(
      input({ config: containerConfig({ command: ["sh"], working_dir }), image: { WorkingDir } }),
    )
      .process.cwd;
  assertEquals(cwd("/srv", "/img"), "/srv");
  assertEquals(cwd("", "/img"), "/img");
  assertEquals(cwd("", "app/data"), "/app/data");
  assertEquals(cwd(""), "/");
});
