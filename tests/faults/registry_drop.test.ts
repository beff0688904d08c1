/**
 * A registry whose connections drop in the middle of a blob: a TCP proxy (node:net) in
 * front of the real docker-registry forwards 64 KiB of the big layer's response and then
 * cuts the connection, for the first few attempts. The pull succeeds through Skiff's
 * retries, downloading only what it must; when the connection never recovers the pull
 * fails clearly (UNAVAILABLE, naming the blob). Either way nothing partial stays.
 */
import { buildBusyboxImage, file, pushImage } from "../helpers/oci_build.ts";
import { CuttingProxy } from "./cutting_proxy.ts";
import {
  assert,
  assertNoLeaks,
  criFailure,
  faultPrerequisitesMissing,
  FaultWorld,
  teardownThroughCri,
} from "./helpers.ts";

const ignore = faultPrerequisitesMissing() !== null;

function files(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) out.push(...files(`${dir}/${e.name}`, `${prefix}${e.name}/`));
      else out.push(`${prefix}${e.name}`);
    }
  } catch {
    // absent
  }
  return out.sort();
}

Deno.test({
  name: "a registry dropping connections mid-blob: retries recover; a dead one fails clearly",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await FaultWorld.create({ bridge: false });
    const proxy = await CuttingProxy.start(Number(w.registry.host.split(":")[1]));
    const imageDir = `${w.skiff.rootDir}/image`;
    try {
      const data = new Uint8Array(4 * 1024 * 1024);
      for (let o = 0; o < data.length; o += 65536) {
        crypto.getRandomValues(data.subarray(o, o + 65536));
      }
      const built = await buildBusyboxImage({ extraLayers: [[file("data/big", data)]] });
      await pushImage(w.registry, "faults/cut:1", built);
      const bigLayer = built.layers[1].digest;
      proxy.targets.add(bigLayer);
      const ref = `${proxy.host}/faults/cut:1`;
      await w.skiff.start();

      // Two cut downloads, then a whole one: the pull succeeds.
      proxy.cuts = 2;
      await w.client.call("PullImage", { image: { image: ref } }, { timeoutMs: 60_000 });
      assert.equal(proxy.cutCount, 2);
      assert.equal(proxy.attempts, 3, `${proxy.attempts} downloads of the cut layer`);
      const st = await w.client.call("ImageStatus", { image: { image: ref } });
      assert.ok(st.image?.id.startsWith("sha256:"));
      assert.deepEqual(files(`${imageDir}/content/ingest`), []);
      assert.deepEqual(files(`${imageDir}/layers/tmp`), []);
      // The layer is whole: a container reads all of it.
      const pod = await w.pod("NODE");
      const id = await w.container(pod, "reader", { image: { image: ref } });
      await w.client.call("StartContainer", { container_id: id });
      const r = await w.client.call("ExecSync", {
        container_id: id,
        cmd: ["sh", "-c", "wc -c < /data/big"],
      });
      assert.equal(new TextDecoder().decode(r.stdout).trim(), String(data.length));
      await teardownThroughCri(w.skiff);
      await w.client.call("RemoveImage", { image: { image: ref } });

      // A connection that never recovers: a clear failure, after a bounded number of tries.
      proxy.cuts = Infinity;
      proxy.attempts = 0;
      const t0 = performance.now();
      const err = await criFailure(
        w.client.call("PullImage", { image: { image: ref } }, { timeoutMs: 60_000 }),
      );
      const took = performance.now() - t0;
      console.log(
        `never recovers: ${err.codeName} after ${proxy.attempts} attempts, ${
          Math.round(took)
        } ms: ${err.message}`,
      );
      assert.equal(err.codeName, "UNAVAILABLE", err.message);
      assert.match(err.message, new RegExp(bigLayer.slice(7, 19)));
      assert.ok(proxy.attempts >= 2 && proxy.attempts <= 10, `${proxy.attempts} attempts`);
      assert.equal((await w.client.call("ImageStatus", { image: { image: ref } })).image, null);
      assert.deepEqual(files(`${imageDir}/content/ingest`), []);
      assert.deepEqual(files(`${imageDir}/layers/tmp`), []);
      // Nothing of the failed pull is kept (the busybox layer it fetched included).
      assert.deepEqual(files(`${imageDir}/content/blobs`), []);
      assert.deepEqual(files(`${imageDir}/layers/sha256`), []);
      await assertNoLeaks(w, "after pulls through a cutting proxy");
    } catch (err) {
      console.error(`skiff log tail:\n${(await w.skiff.log()).slice(-3000)}`);
      throw err;
    } finally {
      await proxy.close();
      await w.dispose();
    }
  },
});
