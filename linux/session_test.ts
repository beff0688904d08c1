import assert from "node:assert/strict";
import { newSessionCommand } from "./session.ts";

Deno.test("newSessionCommand: the child leads a new session and process group, same PID", async () => {
  const cmd = newSessionCommand("/bin/sh", ["-c", "cat /proc/$$/stat"]);
  const child = new Deno.Command(cmd.program, {
    args: cmd.args,
    detached: cmd.detached,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const stat = new TextDecoder().decode(out.stdout);
  // "pid (comm) state ppid pgrp session …"
  const [pid, , , pgrp, session] = [
    stat.split(" ")[0],
    ...stat.slice(stat.lastIndexOf(")") + 2).split(" "),
  ];
  assert.equal(Number(pid), child.pid, "setsid(1) must exec in place, not fork");
  assert.equal(Number(pgrp), child.pid);
  assert.equal(Number(session), child.pid);
  assert.notEqual(Number(session), Number(Deno.readTextFileSync("/proc/self/stat").split(" ")[5]));
});
