import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  ago,
  bar,
  containerStateLabel,
  containerStateNamed,
  humanSize,
  jsonText,
  podStateLabel,
  podStateNamed,
  shortId,
  splitRepoTag,
  stateChoices,
  table,
} from "./format.ts";

Deno.test("format: CRI states as table labels", () => {
  assertEquals(containerStateLabel("CONTAINER_CREATED"), "Created");
  assertEquals(containerStateLabel("CONTAINER_RUNNING"), "Running");
  assertEquals(containerStateLabel("CONTAINER_EXITED"), "Exited");
  assertEquals(containerStateLabel("CONTAINER_UNKNOWN"), "Unknown");
  assertEquals(podStateLabel("SANDBOX_READY"), "Ready");
  assertEquals(podStateLabel("SANDBOX_NOTREADY"), "NotReady");
});

Deno.test("format: --state names, in any case, and nothing else", () => {
  assertEquals(containerStateNamed("running"), "CONTAINER_RUNNING");
  assertEquals(containerStateNamed("EXITED"), "CONTAINER_EXITED");
  assertEquals(containerStateNamed("sleepy"), undefined);
  assertEquals(containerStateNamed("constructor"), undefined);
  assertEquals(podStateNamed("NotReady"), "SANDBOX_NOTREADY");
  assertEquals(podStateNamed("ready"), "SANDBOX_READY");
  assertEquals(podStateNamed("running"), undefined);
  assertEquals(stateChoices("container"), "created, running, exited or unknown");
  assertEquals(stateChoices("pod"), "ready or notready");
});

Deno.test("format: tables pad every column but the last", () => {
  assertEquals(
    table(["A", "LONG"], [["xyz", "1"], ["", "22"]]),
    "A     LONG\nxyz   1\n      22\n",
  );
});

Deno.test("format: sizes, IDs, repo:tag, ages, bars, JSON", () => {
  assertEquals(humanSize(999), "999B");
  assertEquals(humanSize(4_270_000), "4.27MB");
  assertEquals(humanSize("1000000000"), "1GB");
  assertEquals(shortId("sha256:0123456789abcdef"), "0123456789abc");
  assertEquals(splitRepoTag("docker.io/library/busybox:1.36"), [
    "docker.io/library/busybox",
    "1.36",
  ]);
  assertEquals(splitRepoTag("localhost:5000/x"), ["localhost:5000/x", "<none>"]);
  const now = 1_700_000_000_000;
  const nanos = (msAgo: number) => String(BigInt(now - msAgo) * 1_000_000n);
  assertEquals(ago(nanos(500), now), "Less than a second ago");
  assertEquals(ago(nanos(1000), now), "1 second ago");
  assertEquals(ago(nanos(3 * 3600_000), now), "3 hours ago");
  assertEquals(ago("0", now), "");
  assertEquals(bar(0.5, 10), "[=====>    ]");
  assertEquals(bar(1, 4), "[====]");
  assertEquals(jsonText({ a: 1 }), '{\n  "a": 1\n}\n');
});
