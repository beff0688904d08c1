/**
 * Builders of hostile images for the hardening tests: a well-formed image from
 * oci_build.ts, with its manifest rewritten (media types, sizes, extra layers) and served
 * by a HostileRegistry.
 */
import { type Blob, buildImage, type BuiltImage, file, sha256 } from "../helpers/oci_build.ts";
import { TestSkiff } from "../helpers/skiff.ts";

const enc = new TextEncoder();

export interface ManifestJson {
  schemaVersion: number;
  mediaType?: string;
  config: { mediaType?: string; digest: string; size: number };
  layers: { mediaType?: string; digest: string; size: number; urls?: string[] }[];
}

/** `built` with its manifest edited by `edit` (digest recomputed). */
export async function withManifest(
  built: BuiltImage,
  edit: (m: ManifestJson) => void,
): Promise<BuiltImage> {
  const json = JSON.parse(new TextDecoder().decode(built.manifest.bytes)) as ManifestJson;
  edit(json);
  const bytes = enc.encode(JSON.stringify(json));
  const manifest: Blob = {
    digest: await sha256(bytes),
    mediaType: json.mediaType ?? built.manifest.mediaType,
    bytes,
  };
  return { ...built, manifest };
}

/** A small image of `n` one-file layers. */
export function manyLayers(n: number): Promise<BuiltImage> {
  return buildImage({
    layers: Array.from({ length: n }, (_, i) => [file(`f${i}`, `${i}`)]),
  });
}

/** A Skiff for hardening tests, started; dispose it in `finally`. */
export async function startSkiff(extraToml = ""): Promise<TestSkiff> {
  const s = await TestSkiff.create({ extraToml });
  try {
    await s.start();
  } catch (e) {
    await s.dispose();
    throw e;
  }
  return s;
}

/** A PullImage call that a regression would let hang: bounded so the test fails instead. */
export function pull(s: TestSkiff, ref: string): Promise<unknown> {
  return s.client.call("PullImage", { image: { image: ref } }, { timeoutMs: 30_000 });
}
