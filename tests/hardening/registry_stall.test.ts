/**
 * A registry that sends one byte of a blob and then nothing (issue 13, item 3).
 *
 * Skiff runs with V8 collecting garbage often (DENO_V8_FLAGS=--gc-interval): the pull's
 * abort links used to be `AbortSignal.any` signals, held only weakly, so after a GC neither
 * the no-progress watchdog nor a cancelled caller reached the stalled download and the pull
 * hung forever (with the default 60 s a GC always came first; with a short timeout the
 * timer usually won). Here the stall must fail DEADLINE_EXCEEDED naming the blob and the
 * registry, and a cancelled PullImage must stop its download and remove its temp files,
 * unless another caller still shares the pull.
 */
import assert from "node:assert/strict";
import { TestSkiff } from "../helpers/skiff.ts";
import { buildImage, file } from "../helpers/oci_build.ts";
import { CriCallError } from "../../cri/client.ts";
import { waitFor } from "../image/fixture.ts";
import { HostileRegistry } from "./hostile_registry.ts";
import { expectRefusal } from "./refusal.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const GC_OFTEN = { DENO_V8_FLAGS: "--gc-global,--gc-interval=50000" };

/**
 * Keeps Skiff allocating (CRI calls) until `until` settles, so the frequent GCs above run
 * while a download is stalled — an idle process would wait for V8's memory reducer.
 */
async function churn(s: TestSkiff, until: Promise<unknown>): Promise<void> {
  let done = false;
  until.finally(() => done = true).catch(() => {});
  while (!done) {
    await s.client.call("ListImages", {}).catch(() => {});
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Files of unfinished downloads and unpacks under Skiff's image store. */
function leftovers(s: TestSkiff): number {
  let n = 0;
  for (const d of ["content/ingest", "layers/tmp"]) {
    try {
      n += [...Deno.readDirSync(`${s.rootDir}/image/${d}`)].length;
    } catch {
      // not made yet
    }
  }
  return n;
}

async function stallingImage(reg: HostileRegistry, name: string) {
  const img = await buildImage({
    layers: [[file("big", crypto.getRandomValues(new Uint8Array(50_000)))]],
  });
  const ref = reg.putImage(name, "1", img);
  reg.blobs.set(img.layers[0].digest, { bytes: img.layers[0].bytes, stallAfter: 1 });
  return { ref, layer: img.layers[0].digest };
}

Deno.test({
  name: "registry stall: no byte for progress_timeout_seconds fails DEADLINE_EXCEEDED, GC or not",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await TestSkiff.create({
      extraToml: "[image]\nprogress_timeout_seconds = 2\n",
      env: GC_OFTEN,
    });
    try {
      await s.start();
      const { ref, layer } = await stallingImage(reg, "evil/stall");
      // A generous client deadline only so a regression fails instead of hanging the suite.
      const pulling = s.client.call("PullImage", { image: { image: ref } }, {
        timeoutMs: 20_000,
      });
      await churn(s, pulling);
      const msg = await expectRefusal(
        s,
        pulling,
        "DEADLINE_EXCEEDED",
        "PullImage of a stalled blob",
      );
      assert(msg.includes(layer), `names the blob: ${msg}`);
      assert(msg.includes(reg.host), `names the registry: ${msg}`);
      assert(/progress_timeout_seconds/.test(msg), msg);
      await waitFor(() => reg.openStreams === 0, 5000, "the stalled download to be closed");
      await waitFor(() => leftovers(s) === 0, 5000, "temp files to go");
    } finally {
      await s.dispose();
      await reg.close();
    }
  },
});

Deno.test({
  name: "registry stall: a cancelled PullImage stops its pull, unless another caller shares it",
  ...opts,
  async fn() {
    const reg = HostileRegistry.start();
    const s = await TestSkiff.create({
      extraToml: "[image]\nprogress_timeout_seconds = 600\n",
      env: GC_OFTEN,
    });
    try {
      await s.start();
      const { ref } = await stallingImage(reg, "evil/cancel");
      const first = new AbortController();
      const second = new AbortController();
      const pull = (signal: AbortSignal) =>
        s.client.call("PullImage", { image: { image: ref } }, { signal }).catch((e) => e);
      const a = pull(first.signal);
      await waitFor(() => reg.openStreams === 1, 10_000, "the download to start");
      const b = pull(second.signal);
      await new Promise((r) => setTimeout(r, 500));
      first.abort();
      const errA = await a;
      assert(errA instanceof CriCallError && errA.codeName === "CANCELLED", String(errA));
      // The second caller still waits: the shared download goes on (GC or not).
      await churn(s, new Promise((r) => setTimeout(r, 1500)));
      assert.equal(reg.openStreams, 1, "the shared pull must go on for its other caller");
      // GCs run before the cancel arrives, then Skiff stays busy while it should stop.
      await churn(s, new Promise((r) => setTimeout(r, 1000)));
      second.abort();
      await b;
      await churn(s, waitFor(() => reg.openStreams === 0, 10_000, "the download to be aborted"));
      await waitFor(() => reg.openStreams === 0, 1, "the download to be aborted");
      await waitFor(() => leftovers(s) === 0, 10_000, "temp files to go");
      // Skiff still serves, and nothing of the image was kept.
      const list = await s.client.call("ListImages", {});
      assert.equal(list.images?.length ?? 0, 0);
    } finally {
      await s.dispose();
      await reg.close();
    }
  },
});
