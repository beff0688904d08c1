/** Reference normalisation (Docker-compatible) and platform selection: pure logic. */
import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert/strict";
import { formatReference, parseReference } from "./reference.ts";
import { InvalidArgumentError, NotFoundError } from "../core/errors.ts";
import { selectPlatform } from "./platform.ts";
import { chainIds } from "./layers.ts";

const D = "sha256:" + "a".repeat(64);

Deno.test("reference: Docker-compatible normalisation", () => {
  const cases: [string, string][] = [
    ["busybox", "docker.io/library/busybox:latest"],
    ["busybox:1.36", "docker.io/library/busybox:1.36"],
    ["library/busybox", "docker.io/library/busybox:latest"],
    ["user/app:v1", "docker.io/user/app:v1"],
    ["index.docker.io/user/app", "docker.io/user/app:latest"],
    ["registry.k8s.io/pause:3.10", "registry.k8s.io/pause:3.10"],
    ["127.0.0.1:5000/a/b/c:t", "127.0.0.1:5000/a/b/c:t"],
    ["localhost/x", "localhost/x:latest"],
    ["localhost:5000/x", "localhost:5000/x:latest"],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`quay.io/a/b:tag@${D}`, `quay.io/a/b:tag@${D}`],
    [
      "my-registry.example.com:443/team__x/img.name-v2:1.0_rc",
      "my-registry.example.com:443/team__x/img.name-v2:1.0_rc",
    ],
  ];
  for (const [input, want] of cases) {
    assertEquals(formatReference(parseReference(input)), want, input);
  }
});

Deno.test("reference: malformed input is INVALID_ARGUMENT with a precise message", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["Busybox", /lowercase/],
    ["busybox:", /tag ""/],
    ["busybox:-x", /tag "-x"/],
    ["busybox@sha256:abc", /digest "sha256:abc"/],
    ["a//b", /path component ""/],
    ["a/b_-c", /path component "b_-c"/],
    [" busybox", /whitespace/],
    ["host:port/x", /registry host "host:port"/],
    ["x".repeat(300), /longer than 255/],
  ];
  for (const [input, msg] of cases) {
    assertThrows(() => parseReference(input), (e: unknown) => {
      return e instanceof InvalidArgumentError && msg.test(e.message) &&
        e.message.includes(JSON.stringify(input));
    }, input);
  }
});

Deno.test("platform: picks the node's entry, arm64 variant v8 implied, clear error listing platforms", () => {
  const entries = [
    { digest: "amd", platform: { os: "linux", architecture: "amd64" } },
    { digest: "armv7", platform: { os: "linux", architecture: "arm", variant: "v7" } },
    { digest: "arm64", platform: { os: "linux", architecture: "arm64" } },
  ];
  assertEquals(selectPlatform(entries, { os: "linux", architecture: "amd64" }, "x").digest, "amd");
  assertEquals(
    selectPlatform(entries, { os: "linux", architecture: "arm64", variant: "v8" }, "x").digest,
    "arm64",
  );
  assertThrows(
    () => selectPlatform(entries, { os: "linux", architecture: "s390x" }, "img"),
    (e: unknown) =>
      e instanceof NotFoundError && /linux\/amd64, linux\/arm\/v7, linux\/arm64/.test(e.message),
  );
});

Deno.test("chain IDs follow the OCI definition", async () => {
  const a = "sha256:" + "1".repeat(64);
  const b = "sha256:" + "2".repeat(64);
  const [c0, c1] = chainIds([a, b]);
  assertEquals(c0, a);
  const h = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`${a} ${b}`));
  const hex = Array.from(new Uint8Array(h), (x) => x.toString(16).padStart(2, "0")).join("");
  assertEquals(c1, `sha256:${hex}`);
});
