import assert from "node:assert/strict";
import { parseSignal, SIGNALS } from "./signals.ts";

Deno.test("parseSignal: CRI enum names and image StopSignal forms", () => {
  assert.equal(parseSignal("SIGINT"), "SIGINT");
  assert.equal(parseSignal("QUIT"), "SIGQUIT");
  assert.equal(parseSignal("term"), "SIGTERM");
  assert.equal(parseSignal("9"), "9");
  assert.equal(parseSignal("SIGRTMIN"), "34");
  assert.equal(parseSignal("SIGRTMINPLUS1"), "35");
  assert.equal(parseSignal("RTMAX"), "64");
  assert.equal(parseSignal("SIGRTMAXMINUS2"), "62");
});

Deno.test("parseSignal: no signal for defaults and unknown names", () => {
  assert.equal(parseSignal(""), null);
  assert.equal(parseSignal("RUNTIME_DEFAULT"), null);
  assert.equal(parseSignal("bogus"), null);
  assert.equal(parseSignal("SIG"), null);
});

Deno.test("signal table: aliases share numbers", () => {
  assert.equal(SIGNALS.SIGIOT, SIGNALS.SIGABRT);
  assert.equal(SIGNALS.SIGCLD, SIGNALS.SIGCHLD);
  assert.equal(SIGNALS.SIGPOLL, SIGNALS.SIGIO);
  assert.equal(SIGNALS.SIGKILL, 9);
});
