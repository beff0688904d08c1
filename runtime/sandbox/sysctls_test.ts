import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import { normalizeSysctlName, sysctlNamespace, validateSysctls } from "./sysctls.ts";

Deno.test("sysctls are classified by the namespace that scopes them", () => {
  assert.equal(sysctlNamespace("kernel.sem"), "ipc");
  assert.equal(sysctlNamespace("kernel.shmmax"), "ipc");
  assert.equal(sysctlNamespace("kernel.msgmax"), "ipc");
  assert.equal(sysctlNamespace("fs.mqueue.msg_max"), "ipc");
  assert.equal(sysctlNamespace("net.ipv4.ip_forward"), "net");
  assert.equal(sysctlNamespace("net/ipv4/conf/eth0.1/forwarding"), "net");
  assert.equal(sysctlNamespace("kernel.hostname"), null);
  assert.equal(sysctlNamespace("vm.swappiness"), null);
  assert.equal(sysctlNamespace("kernel.semmni"), null);
});

Deno.test("a `/`-separated sysctl name swaps its separators", () => {
  assert.equal(normalizeSysctlName("net.ipv4.ip_forward"), "net.ipv4.ip_forward");
  assert.equal(
    normalizeSysctlName("net/ipv4/conf/eth0.1/forwarding"),
    "net.ipv4.conf.eth0/1.forwarding",
  );
});

Deno.test("sysctls are refused by name, value and the pod's namespaces", () => {
  const pod = { hostNetwork: false, hostIpc: false };
  validateSysctls({ "net.ipv4.ip_forward": "1", "kernel.shmmax": "1000" }, pod);
  const refused: [Record<string, string>, typeof pod, RegExp][] = [
    [{ "Net..x": "1" }, pod, /not a valid sysctl name/],
    [{ "net.ipv4.ip_forward": "1\n" }, pod, /single line/],
    [{ "vm.swappiness": "1" }, pod, /not namespaced/],
    [{ "net.ipv4.ip_forward": "1" }, { ...pod, hostNetwork: true }, /host network/],
    [{ "kernel.shmmax": "1" }, { ...pod, hostIpc: true }, /host IPC/],
  ];
  for (const [sysctls, p, msg] of refused) {
    assert.throws(() => validateSysctls(sysctls, p), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.match(e.message, msg);
      return true;
    });
  }
});
