/**
 * bench/pull: image pull and layer unpack throughput.
 *
 *   deno run --allow-all bench/pull.ts [--mb 200] [--layers 8]
 *
 * Generates an image of about `mb` MB in `layers` gzip layers (many files: half text-like,
 * half random, so gzip has real work), pushes it to a local docker-registry, then in the
 * same run:
 *   - pull: Skiff's image service (download + verify + unpack) vs `skopeo copy` of the
 *     same image to an OCI layout (download + verify only, no unpack);
 *   - unpack: Skiff's applier vs GNU `tar xzf` on the same layer blobs;
 *   - pull vs the like-for-like floor: skopeo copy + GNU tar of every layer.
 * Prints times and the ratios (Skiff / baseline; lower is better, target unpack ≤ 1.5).
 * Removes everything it made.
 */
import { parseArgs } from "node:util";
import { TestRegistry } from "../tests/helpers/registry.ts";
import { buildImage, file, pushImage, type TarEntry } from "../tests/helpers/oci_build.ts";
import { ImageFixture } from "../tests/image/fixture.ts";

const { values } = parseArgs({
  options: { mb: { type: "string", default: "200" }, layers: { type: "string", default: "8" } },
});
const TOTAL = Number(values.mb) * 1024 * 1024;
const LAYERS = Number(values.layers);

function layerEntries(n: number, bytes: number): TarEntry[] {
  const entries: TarEntry[] = [];
  const fileSize = 32 * 1024;
  const words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod ".repeat(
    600,
  );
  const text = new TextEncoder().encode(words);
  for (let i = 0, made = 0; made < bytes; i++) {
    let content: Uint8Array;
    if (i % 2 === 0) content = crypto.getRandomValues(new Uint8Array(fileSize));
    else content = text.subarray(i % 100, (i % 100) + fileSize);
    entries.push(file(`layer${n}/dir${i % 32}/file${i}`, content, { mode: 0o644 }));
    made += content.length;
  }
  return entries;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const registry = await TestRegistry.start();
const scratch = await Deno.makeTempDir({ prefix: "skiff-bench-pull-" });
try {
  console.log(`building a ${values.mb} MB image in ${LAYERS} layers…`);
  const built = await buildImage({
    layers: Array.from({ length: LAYERS }, (_, i) => layerEntries(i, TOTAL / LAYERS)),
  });
  const pushed = await pushImage(registry, "bench/big:1", built);
  const compressed = built.layers.reduce((n, l) => n + l.bytes.length, 0);
  console.log(`pushed ${pushed.ref}: ${(compressed / 1048576).toFixed(1)} MB compressed`);

  // Pull: Skiff vs skopeo copy (alternating, best of 2 each).
  const skiffTimes: number[] = [];
  const skopeoTimes: number[] = [];
  for (let round = 0; round < 2; round++) {
    const fx = await ImageFixture.create();
    try {
      skiffTimes.push(await timed(() => fx.images.pull(pushed.ref)));
    } finally {
      await fx.dispose();
    }
    const dest = `${scratch}/oci-${round}`;
    skopeoTimes.push(
      await timed(() =>
        run("skopeo", ["copy", "--src-tls-verify=false", `docker://${pushed.ref}`, `oci:${dest}:x`])
      ),
    );
    await Deno.remove(dest, { recursive: true });
  }
  const skiffPull = Math.min(...skiffTimes);
  const skopeoPull = Math.min(...skopeoTimes);

  // Unpack: Skiff's applier (from local blobs) vs GNU tar on the same blobs.
  const blobs: string[] = [];
  for (const [i, l] of built.layers.entries()) {
    const p = `${scratch}/layer${i}.tar.gz`;
    await Deno.writeFile(p, l.bytes);
    blobs.push(p);
  }
  const fx = await ImageFixture.create();
  let skiffUnpack = 0;
  let tarUnpack = 0;
  try {
    for (const [i, p] of blobs.entries()) {
      skiffUnpack += await timed(async () => {
        const f = await Deno.open(p);
        await fx.images.layers.unpack(
          `sha256:${String(i).padStart(64, "0")}`,
          built.diffIds[i],
          built.layers[i].digest,
          f.readable,
        );
      });
      const dest = `${scratch}/tar${i}`;
      await Deno.mkdir(dest);
      tarUnpack += await timed(() => run("tar", ["xzf", p, "-C", dest]));
      await Deno.remove(dest, { recursive: true });
    }
  } finally {
    await fx.dispose();
  }

  const ms = (x: number) => `${x.toFixed(0)} ms`;
  console.log(
    `pull   skiff ${ms(skiffPull)}  skopeo copy ${ms(skopeoPull)}  ratio ${
      (skiffPull / skopeoPull).toFixed(2)
    }`,
  );
  console.log(
    `unpack skiff ${ms(skiffUnpack)}  GNU tar xzf ${ms(tarUnpack)}  ratio ${
      (skiffUnpack / tarUnpack).toFixed(2)
    }`,
  );
  // skopeo only downloads; Skiff also unpacks. The like-for-like floor is both steps.
  const floor = skopeoPull + tarUnpack;
  console.log(
    `pull vs (skopeo copy + GNU tar) ${ms(floor)}  ratio ${(skiffPull / floor).toFixed(2)}`,
  );
} finally {
  await registry.stop();
  await Deno.remove(scratch, { recursive: true }).catch(() => {});
}
