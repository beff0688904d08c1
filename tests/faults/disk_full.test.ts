/**
 * Disk full during a pull: Skiff's image store (`<root_dir>/image`) sits on a 16 MiB tmpfs
 * the test mounts, and the image is bigger than that. The pull fails with a clear
 * RESOURCE_EXHAUSTED "no space" error, leaves no partial blob, unpack dir or image record,
 * the space is free again, and a smaller pull then works and runs.
 */
import { buildBusyboxImage, file, pushImage } from "../helpers/oci_build.ts";
import {
  assert,
  assertNoLeaks,
  criFailure,
  faultPrerequisitesMissing,
  FaultWorld,
  teardownThroughCri,
} from "./helpers.ts";

const ignore = faultPrerequisitesMissing() !== null;

async function run(argv: string[]): Promise<string> {
  const out = await new Deno.Command(argv[0], { args: argv.slice(1), stderr: "piped" }).output();
  const d = new TextDecoder();
  if (!out.success) throw new Error(`${argv.join(" ")}: ${d.decode(out.stderr)}`);
  return d.decode(out.stdout);
}

/** Files (not dirs) below `dir`, relative. */
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

function usedKiB(mountpoint: string): number {
  const st = new Deno.Command("df", { args: ["-k", "--output=used", mountpoint], stdout: "piped" })
    .outputSync();
  return Number(new TextDecoder().decode(st.stdout).trim().split("\n")[1]);
}

Deno.test({
  name: "disk full during a pull: RESOURCE_EXHAUSTED, nothing partial left, a smaller pull works",
  ignore,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const w = await FaultWorld.create({ bridge: false });
    const imageDir = `${w.skiff.rootDir}/image`;
    try {
      // 24 MiB of incompressible data, uncompressed: blob and unpacked layer both need it.
      const data = new Uint8Array(24 * 1024 * 1024);
      for (let o = 0; o < data.length; o += 65536) {
        crypto.getRandomValues(data.subarray(o, o + 65536));
      }
      const big = await pushImage(
        w.registry,
        "faults/huge:1",
        await buildBusyboxImage({
          extraLayers: [{ entries: [file("data/huge", data)], compression: "none" }],
        }),
      );
      await Deno.mkdir(imageDir, { recursive: true });
      await run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", imageDir]);
      await w.skiff.start();
      const emptyKiB = usedKiB(imageDir);

      const err = await criFailure(
        w.client.call("PullImage", { image: { image: big.ref } }, { timeoutMs: 60_000 }),
      );
      assert.equal(err.codeName, "RESOURCE_EXHAUSTED", err.message);
      assert.match(err.message, /no space/i);
      assert.match(err.message, /faults\/huge|sha256:/, "the error does not say what it pulled");

      // Nothing partial: no temp download, no half-unpacked layer, no record, space back.
      assert.deepEqual(files(`${imageDir}/content/ingest`), []);
      assert.deepEqual(files(`${imageDir}/layers/tmp`), []);
      assert.deepEqual(files(`${imageDir}/content/blobs`), []);
      assert.deepEqual(files(`${imageDir}/layers/sha256`), []);
      const st = await w.client.call("ImageStatus", { image: { image: big.ref } });
      assert.equal(st.image, null);
      assert.deepEqual((await w.client.call("ListImages", {})).images, []);
      assert.ok(usedKiB(imageDir) <= emptyKiB + 64, `${usedKiB(imageDir)} KiB still used`);

      // A smaller image pulls and runs on the same full-sized-once store.
      await w.pullImage();
      const pod = await w.pod("NODE");
      const id = await w.container(pod, "small");
      await w.client.call("StartContainer", { container_id: id });
      const r = await w.client.call("ExecSync", { container_id: id, cmd: ["echo", "fits"] });
      assert.equal(new TextDecoder().decode(r.stdout), "fits\n");
      await teardownThroughCri(w.skiff);
      await assertNoLeaks(w, "after the disk-full pull", { ownMounts: [imageDir] });
    } catch (err) {
      console.error(`skiff log tail:\n${(await w.skiff.log()).slice(-3000)}`);
      throw err;
    } finally {
      await w.dispose(); // unmounts the tmpfs with the rest of the test dir
    }
  },
});
