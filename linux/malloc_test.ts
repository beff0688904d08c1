import assert from "node:assert/strict";
import { cleanExecutableMappings, dropCleanExecutablePages, selfMappings } from "./malloc.ts";

const SMAPS = `55d0c0000000-55d0c1b8e000 r--p 00000000 08:01 1234 /usr/bin/deno
Rss:               13312 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
55d0c1b8e000-55d0c5882000 r-xp 01b8e000 08:01 1234 /usr/bin/deno
Rss:               27136 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
55d0c5882000-55d0c5af4000 rw-p 05881000 08:01 1234 /usr/bin/deno
Rss:                2400 kB
Anonymous:          2100 kB
Private_Dirty:      2100 kB
55d0c5af4000-55d0c5af5000 r--p 05b02000 08:01 1234 /usr/bin/deno
Rss:                   4 kB
Anonymous:             4 kB
Private_Dirty:         4 kB
55d0c5af5000-55d0c5af6000 r--p 05b03000 08:01 1234 /usr/bin/deno
Rss:                   0 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
7f0000000000-7f0000200000 r-xp 035cf000 08:01 1234 /usr/bin/deno
Rss:                2100 kB
Anonymous:             0 kB
Private_Dirty:      2100 kB
7f0000400000-7f0000600000 r-xp 00000000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Rss:                1600 kB
Anonymous:             0 kB
Private_Dirty:         0 kB
7f0000800000-7f0000a00000 rw-p 00000000 00:00 0
Rss:                8000 kB
Anonymous:          8000 kB
Private_Dirty:      8000 kB
`;

Deno.test("cleanExecutableMappings: only the executable's read-only pages that equal the file", () => {
  const picked = cleanExecutableMappings(selfMappings(SMAPS), "/usr/bin/deno");
  assert.deepEqual(
    picked.map((m) => [m.start.toString(16), m.perms, m.rssKb]),
    [
      ["55d0c0000000", "r--p", 13312],
      ["55d0c1b8e000", "r-xp", 27136],
      ["7f0000000000", "r-xp", 2100],
    ],
    "not the writable data, not the relocated read-only page (copy-on-write), not one with " +
      "nothing resident, not another file's, not anonymous memory; but one whose pages the " +
      "page cache has not written back yet (dirty, not copied: a binary just installed)",
  );
});

function executableRssKb(): number {
  const exe = Deno.execPath();
  return selfMappings().filter((m) => m.path === exe).reduce((n, m) => n + m.rssKb, 0);
}

Deno.test("dropCleanExecutablePages: resident pages of deno itself go; the process runs on", async () => {
  const before = executableRssKb();
  const dropped = dropCleanExecutablePages();
  const after = executableRssKb();
  assert.ok(dropped > 1024, `dropped ${dropped} KiB (resident before: ${before} KiB)`);
  assert.ok(after < before, `executable RSS ${before} -> ${after} KiB`);
  // Code and data it needs fault back in: JS, regexps, JSON, an async op, a child process.
  const parsed = JSON.parse(JSON.stringify({ a: [1, 2, 3], b: "x".repeat(100) }));
  assert.equal(parsed.a.length, 3);
  assert.match("pod-1234", /^pod-(\d+)$/);
  assert.ok((await Deno.readTextFile("/proc/self/status")).includes("VmRSS"));
  const out = await new Deno.Command("true").output();
  assert.equal(out.code, 0);
  assert.ok(dropCleanExecutablePages() >= 0, "a second drop is as safe as the first");
});
