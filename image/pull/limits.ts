/**
 * What Skiff accepts of an image before it downloads anything big: the layer count
 * (overlay's limits), the config's declared size, and the media types of the config and
 * layers. Checked right after the manifest, so a hostile image fails early and clearly.
 */
import { FailedPreconditionError } from "../../core/errors.ts";
import type { Config } from "../../core/config/mod.ts";
import {
  FSCONFIG_STRING_MAX,
  MOUNT_OPTIONS_MAX,
  OVERLAY_MAX_LOWER,
  overlayLowerdirPlus,
} from "../../linux/overlay.ts";
import type { Descriptor } from "./oci_json.ts";

export { OVERLAY_MAX_LOWER };
const HEX_ID = 64;

/**
 * How many layers one container rootfs mount can hold with this root_dir. Where the kernel
 * takes overlay's `lowerdir+` one layer at a time (Linux ≥ 6.8, probed once: see
 * linux/overlay.ts), that is overlayfs's own 500, as long as each path fits fsconfig's 255
 * bytes. Otherwise Skiff mounts `lowerdir=<root>/image/layers/sha256/<64 hex>:…,upperdir=
 * <root>/containers/<64 hex>/upper,workdir=…/work` (runtime/rootfs.ts,
 * runtime/container/create.ts) in one page of mount(2) options: 38 layers with root_dir =
 * /var/lib/skiff (checked with a real mount).
 */
export function mountableLayers(rootDir: string, lowerdirPlus = overlayLowerdirPlus()): number {
  const layer = `${rootDir}/image/layers/sha256/`.length + HEX_ID;
  const container = `${rootDir}/containers/`.length + HEX_ID;
  const longest = Math.max(layer, container + "/upper".length);
  if (lowerdirPlus && longest < FSCONFIG_STRING_MAX) return OVERLAY_MAX_LOWER;
  const fixed = "lowerdir=".length + ",upperdir=".length + container + "/upper".length +
    ",workdir=".length + container + "/work".length;
  // N layers take N * (layer + 1) - 1 bytes (colons between them), plus the final NUL.
  const n = Math.floor((MOUNT_OPTIONS_MAX - fixed) / (layer + 1));
  return Math.max(1, Math.min(OVERLAY_MAX_LOWER, n));
}

/** The most layers an image may have on this node, and why. */
export function layerCap(
  config: Config,
  lowerdirPlus = overlayLowerdirPlus(),
): { max: number; why: string } {
  const mountable = mountableLayers(config.root_dir, lowerdirPlus);
  // A tie is said as overlay's limit: image.max_layers defaults to overlayfs's own 500.
  if (config.image.max_layers < mountable) {
    return { max: config.image.max_layers, why: "image.max_layers" };
  }
  return {
    max: mountable,
    why: mountable === OVERLAY_MAX_LOWER
      ? "overlayfs stacks at most 500 lower layers"
      : "what one overlay mount's options can hold with this node's root_dir",
  };
}

export const CONFIG_MEDIA_TYPES = new Set([
  "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.container.image.v1+json",
]);

/** Layer media types Skiff unpacks (as containerd's unpacker): tar, gzip or zstd. */
const LAYER_MEDIA_TYPES = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
]);

/**
 * Non-distributable ("foreign") layers: their blob may live elsewhere (the descriptor's
 * `urls`). Skiff fetches them from the registry by digest like any layer, but never from
 * those URLs (containerd tries them; Skiff talks only to configured registries), so a
 * registry without the blob fails the pull, saying so.
 */
const NON_DISTRIBUTABLE_MEDIA_TYPES = new Set([
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
]);

export function isNonDistributable(mediaType: string | undefined): boolean {
  return NON_DISTRIBUTABLE_MEDIA_TYPES.has(mediaType ?? "");
}

/** Shows at most 100 characters of what a registry sent, quoted. */
export function shown(s: unknown): string {
  const text = typeof s === "string" ? s : String(s);
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/** Refuses an image that Skiff could not store or run, before its blobs are fetched. */
export function checkImageShape(
  config: Config,
  name: string,
  configDesc: Descriptor,
  layers: Descriptor[],
): void {
  const cap = layerCap(config);
  if (layers.length > cap.max) {
    throw new FailedPreconditionError(
      `${name} has ${layers.length} layers; this node runs images of at most ${cap.max} (${cap.why})`,
    );
  }
  if (!CONFIG_MEDIA_TYPES.has(configDesc.mediaType ?? "")) {
    throw new FailedPreconditionError(
      `${name}: config media type ${
        shown(configDesc.mediaType ?? "")
      } is not a container image config (an artifact, or unsupported)`,
    );
  }
  const maxConfig = config.image.max_config_bytes;
  if (!Number.isSafeInteger(configDesc.size) || configDesc.size < 0) {
    throw new FailedPreconditionError(`${name}: config descriptor has no valid size`);
  }
  if (configDesc.size > maxConfig) {
    throw new FailedPreconditionError(
      `${name}: config ${configDesc.digest} is ${configDesc.size} bytes; ` +
        `at most ${maxConfig} are accepted (image.max_config_bytes)`,
    );
  }
  for (const l of layers) {
    if (!Number.isSafeInteger(l.size) || l.size < 0) {
      throw new FailedPreconditionError(`${name}: layer ${shown(l.digest)} has no valid size`);
    }
    const t = l.mediaType ?? "";
    if (LAYER_MEDIA_TYPES.has(t) || NON_DISTRIBUTABLE_MEDIA_TYPES.has(t)) continue;
    throw new FailedPreconditionError(
      `${name}: layer ${shown(l.digest)} has media type ${shown(t)}, which Skiff cannot unpack ` +
        `(tar, tar+gzip or tar+zstd layers only; encrypted layers are not supported)`,
    );
  }
}
