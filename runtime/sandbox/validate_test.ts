import assert from "node:assert/strict";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { PodSandboxConfig } from "../model.ts";
import {
  hostnameFromPodName,
  hostnameProblem,
  validateCgroupParent,
  validateHostIps,
  validateHostname,
  validateLogDirectory,
  validateSandboxConfig,
} from "./validate.ts";
import { validateName } from "../names.ts";

function refused(fn: () => unknown, msg: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof InvalidArgumentError, String(e));
    assert.match(e.message, msg);
    return true;
  });
}

function pod(over: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  return {
    metadata: { name: "web", namespace: "default", uid: "u1", attempt: 0 },
    hostname: "web",
    log_directory: "/var/log/pods/default_web_u1",
    port_mappings: [],
    labels: {},
    annotations: {},
    ...over,
  };
}

Deno.test("validateName: what kubelet, crictl and critest send is accepted", () => {
  for (
    const n of [
      "web",
      "kube-proxy-node-1",
      "coredns-5d78c9869d-abcde",
      "static.pod.name",
      "6f1f0e7a-1b2c-4d5e-8f90-123456789abc", // a UID
      "d41d8cd98f00b204e9800998ecf8427e", // a static pod's hash UID
      "create-PodSandbox-for-container-1", // critest
      "my_pod",
      "x".repeat(253),
    ]
  ) validateName("pod name", n);
});

Deno.test("validateName: separators, control characters and overlong names are refused", () => {
  for (const n of ["a/b", "..", "a;b", "a=b", "a b", "a\nb", "a\0b", "-a", "a-", ".a", "", "ü"]) {
    refused(() => validateName("pod name", n), /pod name .* is not a valid name/);
  }
  refused(() => validateName("pod uid", "x".repeat(254)), /longer than 253 characters/);
  // The message shows a bounded, escaped excerpt.
  assert.throws(() => validateName("pod name", "y".repeat(10000)), (e: Error) => {
    assert.ok(e.message.length < 300, e.message);
    return true;
  });
  assert.throws(() => validateName("pod name", "a\nb"), (e: Error) => {
    assert.ok(!e.message.includes("\n"), e.message);
    return true;
  });
});

Deno.test("hostnames: RFC 1123, 63 per label, 64 in all (the kernel's UTS limit)", () => {
  for (const h of ["web", "Web-1", "a.b.c", "x".repeat(63), `${"a".repeat(63)}`]) {
    assert.equal(hostnameProblem(h), null, h);
  }
  // 64 in all is what sethostname(2) takes (setHostnameAsFQDN's limit too).
  assert.equal(hostnameProblem(`${"a".repeat(31)}.${"b".repeat(32)}`), null);
  assert.match(hostnameProblem(`${"a".repeat(32)}.${"b".repeat(32)}`)!, /longer than 64/);
  assert.match(hostnameProblem("x".repeat(10240))!, /longer than 64/);
  assert.match(hostnameProblem("x".repeat(64))!, /label longer than 63/);
  for (const h of ["a;b", "a b", "a_b", "-a", "a-", "a..b", ".a", "a.", "a/b", "ä"]) {
    assert.match(hostnameProblem(h) ?? "", /RFC 1123/, h);
  }
  refused(() => validateHostname("a;b"), /hostname "a;b" is not an RFC 1123 hostname/);
});

Deno.test("hostnameFromPodName: kubelet's truncation, and a safe name for any pod name", () => {
  assert.equal(hostnameFromPodName("web"), "web");
  assert.equal(hostnameFromPodName("static.pod"), "static.pod");
  assert.equal(hostnameFromPodName(`${"a".repeat(62)}-b`), "a".repeat(62));
  assert.equal(hostnameFromPodName("my_pod"), "my-pod");
  assert.equal(hostnameFromPodName("a..b"), "a--b");
  for (const n of ["my_pod", "a..b", "x".repeat(253), "_"]) {
    assert.equal(hostnameProblem(hostnameFromPodName(n)), null, n);
  }
});

Deno.test("validateLogDirectory: absolute or empty, bounded, no NUL", () => {
  validateLogDirectory("");
  validateLogDirectory("/var/log/pods/default_web_u1");
  refused(() => validateLogDirectory("relative/logs"), /must be an absolute path/);
  refused(() => validateLogDirectory("./logs"), /must be an absolute path/);
  refused(() => validateLogDirectory("/a\0b"), /without NUL/);
  refused(() => validateLogDirectory("/" + "d".repeat(5000)), /at most 2048/);
});

Deno.test("validateSandboxConfig: names, hostname and log directory of a request", () => {
  validateSandboxConfig(pod());
  validateSandboxConfig(pod({ hostname: "" }));
  refused(
    () =>
      validateSandboxConfig(
        pod({ metadata: { name: "a/b", namespace: "d", uid: "u", attempt: 0 } }),
      ),
    /pod name "a\/b"/,
  );
  refused(
    () =>
      validateSandboxConfig(
        pod({ metadata: { name: "a", namespace: "d;x", uid: "u", attempt: 0 } }),
      ),
    /pod namespace "d;x"/,
  );
  refused(
    () =>
      validateSandboxConfig(
        pod({ metadata: { name: "a", namespace: "d", uid: "u=1", attempt: 0 } }),
      ),
    /pod uid "u=1"/,
  );
  refused(() => validateSandboxConfig(pod({ hostname: "a;b" })), /hostname/);
  refused(() => validateSandboxConfig(pod({ log_directory: "logs" })), /log_directory/);
});

Deno.test("validateCgroupParent: kubelet's forms pass, escapes and control characters do not", () => {
  for (
    const p of [
      "",
      "/kubepods/burstable/pod6f1f0e7a",
      "kubepods-besteffort-pod6f1f_0e7a.slice",
      "/",
    ]
  ) validateCgroupParent(p);
  for (
    const p of ["/../../tmp/x", "/kubepods/../..", "./x", "a/./b", "a\nb", "/" + "x".repeat(1100)]
  ) {
    refused(() => validateCgroupParent(p), /cgroup_parent .* must be a cgroup path/);
  }
});

Deno.test("validateHostIps: addresses or empty; anything else would publish on every address", () => {
  const pm = (host_ip: string) =>
    pod({ port_mappings: [{ protocol: "TCP", container_port: 80, host_port: 8080, host_ip }] });
  for (const ip of ["", "127.0.0.1", "0.0.0.0", "::1", "fd00::1"]) validateHostIps(pm(ip));
  for (const ip of ["a;b", "::zz", "localhost", "1.2.3.4.5", "10.0.0.1/24"]) {
    refused(() => validateHostIps(pm(ip)), /host_ip .* is not an IP address/);
  }
});
