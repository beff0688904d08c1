import assert from "node:assert/strict";
import type { ContainerStats, Image } from "../../cri/types.ts";
import { FlagError } from "../command.ts";
import { imageTable, parseImagesArgs } from "./images.ts";
import { parseStatsArgs, statsTable } from "./stats.ts";

Deno.test("stats: flags and table", () => {
  const { values, positionals } = parseStatsArgs(["-a", "--pod", "p", "--label", "a=b", "c1"]);
  assert.equal(values.all, true);
  assert.equal(values.pod, "p");
  assert.deepEqual(positionals, ["c1"]);
  assert.throws(() => parseStatsArgs(["-q"]), FlagError);
  const s = {
    attributes: { id: "0123456789abcdef", metadata: { name: "web" } },
    cpu: { usage_nano_cores: { value: "25000000" } },
    memory: { working_set_bytes: { value: "2500000" } },
    writable_layer: null,
  } as unknown as ContainerStats;
  const [header, row] = statsTable([s]).split("\n");
  assert.match(header, /^CONTAINER\s+NAME\s+CPU %\s+MEM\s+DISK\s+INODES$/);
  assert.match(row, /^0123456789abc\s+web\s+2\.50\s+2\.5MB\s+-\s+-$/);
});

Deno.test("images: flags and table", () => {
  assert.equal(parseImagesArgs(["-q", "busybox"]).values.quiet, true);
  assert.throws(() => parseImagesArgs(["-a"]), FlagError);
  const images = [
    {
      id: "sha256:0123456789abcdef",
      repo_tags: ["a/b:1", "a/b:2"],
      repo_digests: [],
      size: "4270000",
    },
    { id: "sha256:fedcba9876543210", repo_tags: [], repo_digests: ["r/x@sha256:00"], size: "10" },
  ] as unknown as Image[];
  const rows = imageTable(images).trimEnd().split("\n").map((l) => l.split(/\s{3,}/));
  assert.deepEqual(rows, [
    ["IMAGE", "TAG", "IMAGE ID", "SIZE"],
    ["a/b", "1", "0123456789abc", "4.27MB"],
    ["a/b", "2", "0123456789abc", "4.27MB"],
    ["r/x", "<none>", "fedcba9876543", "10B"],
  ]);
});
