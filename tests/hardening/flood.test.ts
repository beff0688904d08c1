/**
 * Issue 13 item 1: thousands of TCP connections that never send a byte, to the streaming
 * port and the admin port at once, must not take Skiff down. The test lowers the running
 * Skiff's RLIMIT_NOFILE (prlimit) so a few thousand connections would exhaust it, then:
 *
 * 1. floods with the default caps (1,024 waiting connections per listener) inside the
 *    limit: CRI keeps answering, on the kubelet's connection and on new ones;
 * 2. lowers the limit below what the caps allow, so `accept` hits EMFILE: Skiff logs it
 *    once and goes on;
 * 3. after the flood: Skiff is alive, every listener serves again, and its RSS is back
 *    within 20% of the pre-flood value.
 *
 * On the code before the fix the admin listener (Deno.serve) died on EMFILE, taking the
 * process with it. A second test runs Skiff out of descriptors while new CRI connections
 * arrive: Deno's listener then accepts nothing more, and before the fix the CRI socket
 * stayed deaf for good.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { CriClient } from "../../cri/client.ts";
import { missingPrerequisites } from "../helpers/env.ts";
import { TestSkiff } from "../helpers/skiff.ts";

const missing = missingPrerequisites({ root: true, binaries: ["runc", "conmon", "prlimit"] });
if (missing) console.warn(`\n!!! SKIPPING hardening flood test: ${missing} !!!\n`);

const PER_PORT = 3000;
/** Skiff gives memory back 10 s and 40 s after a burst of connections is over. */
const RSS_SETTLE_MS = 90_000;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return m ? Number(m[1]) : 0;
}

function openFiles(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** A client on a connection of its own (grpc-js shares one per target otherwise). */
function freshClient(s: TestSkiff): CriClient {
  return new CriClient(s.socket, { "grpc.use_local_subchannel_pool": 1 });
}

async function newCriServed(s: TestSkiff): Promise<boolean> {
  const fresh = freshClient(s);
  try {
    await criAnswers(fresh, "a new CRI connection", 3000);
    return true;
  } catch {
    return false;
  } finally {
    fresh.close();
  }
}

function lowestFreeDescriptor(pid: number): number {
  const used = new Set([...Deno.readDirSync(`/proc/${pid}/fd`)].map((e) => Number(e.name)));
  let fd = 0;
  while (used.has(fd)) fd++;
  return fd;
}

async function setFileLimit(pid: number, n: number): Promise<void> {
  const out = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), `--nofile=${n}:${n}`],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
}

/** Idle connections to `port`, re-opened as Skiff closes them, until `stop()`. */
class Flood {
  readonly #sockets = new Set<net.Socket>();
  #running = true;
  opened = 0;
  closedByServer = 0;

  constructor(readonly port: number, readonly count: number) {
    for (let i = 0; i < count; i++) this.#open();
  }

  #open(): void {
    if (!this.#running) return;
    const s = net.connect(this.port, "127.0.0.1");
    this.#sockets.add(s);
    s.on("connect", () => this.opened++);
    s.on("error", () => {});
    s.on("close", () => {
      this.#sockets.delete(s);
      if (!this.#running) return;
      this.closedByServer++;
      setTimeout(() => this.#open(), 1000);
    });
  }

  stop(): void {
    this.#running = false;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }
}

async function criAnswers(client: CriClient, what: string, timeoutMs = 10_000): Promise<void> {
  const v = await client.call("Version", {}, { timeoutMs });
  assert.equal(v.runtime_name, "skiff", what);
  const pods = await client.call("ListPodSandbox", {}, { timeoutMs });
  assert.ok(Array.isArray(pods.items), what);
}

async function adminHealthy(s: TestSkiff): Promise<boolean> {
  try {
    const r = await fetch(s.adminUrl("/healthz"), { signal: AbortSignal.timeout(3000) });
    await r.body?.cancel();
    return r.status === 200;
  } catch {
    return false;
  }
}

async function streamingAnswers(s: TestSkiff): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${s.streamingPort}/exec/nosuchtoken`, {
      signal: AbortSignal.timeout(3000),
    });
    await r.body?.cancel();
    return r.status === 404;
  } catch {
    return false;
  }
}

async function eventually(
  what: string | (() => string),
  check: () => boolean | Promise<boolean>,
  ms = 30_000,
) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`not within ${ms} ms: ${typeof what === "string" ? what : what()}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function floodFor(s: TestSkiff, ms: number, during: () => Promise<void>) {
  const floods = [new Flood(s.streamingPort, PER_PORT), new Flood(s.adminPort, PER_PORT)];
  try {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await during();
      await new Promise((r) => setTimeout(r, 500));
    }
    const opened = floods.map((f) => f.opened);
    console.log(`flood: opened ${opened}, closed by Skiff ${floods.map((f) => f.closedByServer)}`);
    assert.ok(opened.every((n) => n > 0), "the flood reached no listener");
  } finally {
    for (const f of floods) f.stop();
  }
}

Deno.test({
  name: "hardening: a flood of idle connections to the streaming and admin ports",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await TestSkiff.create();
    try {
      await s.start();
      const pid = s.pid!;
      // Warm up what the flood will exercise, so the baseline is a working Skiff's.
      await criAnswers(s.client, "warm-up");
      assert.ok(await adminHealthy(s), "admin /healthz before the flood");
      assert.ok(await streamingAnswers(s), "streaming before the flood");
      await new Promise((r) => setTimeout(r, 2000));
      const rssBefore = rssKiB(pid);
      const base = openFiles(pid);
      // Room for both caps and a little: a few thousand connections would exhaust it.
      await setFileLimit(pid, base + 2 * 1024 + 200);

      await floodFor(s, 8000, async () => {
        await criAnswers(s.client, "kubelet's connection during the flood");
        const fresh = freshClient(s);
        try {
          await criAnswers(fresh, "a new CRI connection during the flood");
        } finally {
          fresh.close();
        }
      });
      assert.ok(openFiles(pid) < base + 2 * 1024 + 200);

      // Now the caps allow more than the limit: accept hits EMFILE.
      await setFileLimit(pid, base + 1024 + 100);
      let freshAtLimit = 0;
      await floodFor(s, 6000, async () => {
        await criAnswers(s.client, "kubelet's connection at EMFILE");
        // A new CRI connection may fail while no descriptor is free; it must not break the
        // CRI socket's listener for later ones.
        const fresh = freshClient(s);
        try {
          await fresh.call("Version", {}, { timeoutMs: 1000 });
          freshAtLimit++;
        } catch {
          // refused or timed out at the limit
        } finally {
          fresh.close();
        }
      });
      console.log(`new CRI connections served at the limit: ${freshAtLimit}`);

      // After: alive, every listener serves, memory returns.
      await eventually("admin /healthz answers after the flood", () => adminHealthy(s));
      await eventually("streaming answers after the flood", () => streamingAnswers(s));
      await eventually("a new CRI connection is served after the flood", () => newCriServed(s));
      let rss = rssKiB(pid);
      const samples: number[] = [];
      // 20%, or the 14 MiB that was when the baseline still held start-up's code pages
      // (~70 MiB; the quiet-time release drops them now, linux/malloc.ts): the flood peaks
      // at ~180 MiB, so memory that did not come back would be far above either.
      const bound = Math.max(rssBefore * 1.2, rssBefore + 14 * 1024);
      await eventually(
        () => `RSS back within ${bound} KiB (${rssBefore} before; KiB, each second: ${samples})`,
        () => {
          rss = rssKiB(pid);
          samples.push(rss);
          return rss <= bound;
        },
        RSS_SETTLE_MS,
      );
      console.log(`RSS: ${rssBefore} KiB before, ${rss} KiB after the flood`);
      const log = await s.log();
      const recoveries = log.split("\n").filter((l) =>
        /listening again|accepting connections/.test(l)
      );
      console.log(`listener recoveries:\n${recoveries.join("\n")}`);
      assert.match(log, /connections are waiting for a request/);
      assert.match(log, /out of file descriptors/);
      const warnings = log.split("\n").filter((l) => /out of file descriptors/.test(l)).length;
      assert.ok(warnings <= 10, `EMFILE logged ${warnings} times, not once per episode`);
      assert.doesNotMatch(log, /uncaught exception/);
      assert.ok(await s.stop() === 0, "Skiff stops cleanly after the flood");
    } catch (err) {
      const pid = s.pid;
      const state = pid ? `${openFiles(pid)} open files, RSS ${rssKiB(pid)} KiB` : "not running";
      const lines = (await s.log()).split("\n").filter((l) => !l.includes("level=debug"));
      console.error(`Skiff (${state}), its log's last lines:\n${lines.slice(-40).join("\n")}`);
      throw err;
    } finally {
      await s.dispose();
    }
  },
});

Deno.test({
  name: "hardening: the CRI socket accepts again after running out of descriptors",
  ignore: missing !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const s = await TestSkiff.create();
    try {
      await s.start();
      const pid = s.pid!;
      await criAnswers(s.client, "before");
      // A few descriptors free, then idle connections take them all: new CRI connections
      // arrive while accept fails with EMFILE.
      const limit = lowestFreeDescriptor(pid) + 20;
      await setFileLimit(pid, limit);
      const flood = new Flood(s.adminPort, 200);
      await eventually("descriptors exhausted", () => lowestFreeDescriptor(pid) >= limit, 10_000);
      const atLimit: string[] = [];
      for (let i = 0; i < 3; i++) {
        const fresh = freshClient(s);
        atLimit.push(
          await fresh.call("Version", {}, { timeoutMs: 1000 }).then(
            () => "served",
            (e) => String(e),
          ),
        );
        fresh.close();
      }
      console.log(`new CRI connections with no descriptor free: ${atLimit.join("; ")}`);
      assert.ok(atLimit.every((r) => r !== "served"), "a descriptor was free after all");
      await criAnswers(s.client, "kubelet's connection while out of descriptors");
      // The idle connections go: their descriptors are free again.
      flood.stop();
      await eventually("a new CRI connection is served again", () => newCriServed(s), 40_000);
      const recoveries = (await s.log()).split("\n")
        .filter((l) => /listening again|accepting connections/.test(l));
      console.log(`listener recoveries:\n${recoveries.join("\n")}`);
    } catch (err) {
      const lines = (await s.log()).split("\n").filter((l) =>
        !l.includes("level=debug") || /CRI|authority|listen/.test(l)
      );
      const pid = s.pid;
      if (pid) {
        console.error(`fds: ${openFiles(pid)} open, lowest free ${lowestFreeDescriptor(pid)}`);
      }
      console.error(`Skiff's log, last lines:\n${lines.slice(-30).join("\n")}`);
      throw err;
    } finally {
      await s.dispose();
    }
  },
});
