/** Network counters of a real pinned network namespace; disk usage of a real directory. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  defaultInterface,
  directoryUsage,
  netDevOfNetns,
  netDevOfPid,
  parseNetDev,
} from "../../runtime/stats/mod.ts";
import { makeTempDir, missingPrerequisites } from "../helpers/env.ts";
import { removeTree } from "../helpers/skiff.ts";

async function run(cmd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const netMissing = missingPrerequisites({
  root: true,
  binaries: ["unshare", "nsenter", "ip", "busybox"],
});

Deno.test({
  name: "network counters of a pinned namespace move after traffic inside it",
  ignore: netMissing !== null,
  async fn() {
    const dir = await makeTempDir("netns");
    const nsFile = `${dir}/net`;
    try {
      await Deno.writeTextFile(nsFile, "");
      await run("unshare", `--net=${nsFile}`, "true");
      await run("nsenter", `--net=${nsFile}`, "ip", "link", "set", "lo", "up");
      // A veth pair inside the namespace: eth0 is what CNI names the pod side.
      await run(
        "nsenter",
        `--net=${nsFile}`,
        "ip",
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "peer0",
      );
      await run(
        "nsenter",
        `--net=${nsFile}`,
        "ip",
        "addr",
        "add",
        "169.254.77.1/30",
        "dev",
        "eth0",
      );
      await run(
        "nsenter",
        `--net=${nsFile}`,
        "ip",
        "addr",
        "add",
        "169.254.77.2/30",
        "dev",
        "peer0",
      );
      await run("nsenter", `--net=${nsFile}`, "ip", "link", "set", "eth0", "up");
      await run("nsenter", `--net=${nsFile}`, "ip", "link", "set", "peer0", "up");

      const before = defaultInterface(await netDevOfNetns(nsFile));
      assertEquals(before?.name, "eth0");
      const loBefore = (await netDevOfNetns(nsFile)).find((i) => i.name === "lo")!;
      await run(
        "nsenter",
        `--net=${nsFile}`,
        "busybox",
        "ping",
        "-c",
        "3",
        "-i",
        "0.1",
        "-s",
        "1000",
        "127.0.0.1",
      );
      const after = await netDevOfNetns(nsFile);
      const loAfter = after.find((i) => i.name === "lo")!;
      assert(
        loAfter.rxBytes >= loBefore.rxBytes + 3000,
        `lo rx ${loBefore.rxBytes} → ${loAfter.rxBytes}`,
      );
      assert(loAfter.txBytes >= loBefore.txBytes + 3000);
      assertEquals(loAfter.rxErrors, 0);

      // The same counters through a process living in the namespace.
      const sleeper = new Deno.Command("nsenter", {
        args: [`--net=${nsFile}`, "sleep", "5"],
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        let viaPid = null;
        for (let i = 0; i < 50 && !viaPid?.some((x) => x.name === "eth0"); i++) {
          await new Promise((r) => setTimeout(r, 20));
          viaPid = await netDevOfPid(sleeper.pid);
        }
        assert(viaPid?.some((x) => x.name === "eth0"), "eth0 seen through /proc/<pid>/net/dev");
      } finally {
        sleeper.kill("SIGKILL");
        await sleeper.status;
      }
    } finally {
      await run("umount", nsFile).catch(() => {});
      await removeTree(dir);
    }
  },
});

Deno.test("/proc/net/dev parses", () => {
  const text = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     336       4    0    0    0     0          0         0      336       4    0    0    0     0       0          0
  eth0: 1234567   890    2    1    0     0          0         0   7654321   321    3    4    0     0       0          0
`;
  const ifs = parseNetDev(text);
  assertEquals(ifs.length, 2);
  assertEquals(ifs[1], {
    name: "eth0",
    rxBytes: 1234567,
    rxPackets: 890,
    rxErrors: 2,
    rxDropped: 1,
    txBytes: 7654321,
    txPackets: 321,
    txErrors: 3,
    txDropped: 4,
  });
  assertEquals(defaultInterface(ifs.slice(0, 1)), null);
});

Deno.test("writable-layer usage counts bytes on disk and inodes, hard links once", async () => {
  const dir = await makeTempDir("fsusage");
  try {
    const empty = await directoryUsage(dir);
    assertEquals(empty.inodesUsed, 1);
    await Deno.mkdir(`${dir}/a/b`, { recursive: true });
    await Deno.writeFile(`${dir}/a/b/big`, new Uint8Array(1024 * 1024).fill(1));
    await Deno.link(`${dir}/a/b/big`, `${dir}/a/hardlink`);
    await Deno.symlink("b/big", `${dir}/a/sym`);
    const s = await directoryUsage(dir);
    // root, a, a/b, big (+ its hard link, once), sym
    assertEquals(s.inodesUsed, 5);
    assert(s.usedBytes >= 1024 * 1024 && s.usedBytes < 1024 * 1024 + 64 * 1024, `${s.usedBytes}`);
    const gone = await directoryUsage(`${dir}/missing`);
    assertEquals([gone.usedBytes, gone.inodesUsed], [0, 0]);
  } finally {
    await removeTree(dir);
  }
});
