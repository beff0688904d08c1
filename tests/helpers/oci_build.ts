/**
 * Builds OCI images in TypeScript and pushes them to a registry through the HTTP API v2,
 * so tests never need docker or the internet.
 *
 * The easy path, a small runnable image (busybox-static: /bin/busybox plus every applet as
 * a symlink — sh, cat, echo, sleep, ls, id, stat, mkdir, wget, nc, env, grep, …; /etc/passwd
 * with root (0) and app (1000); /etc/group; /tmp 1777; /home/app owned by 1000):
 *
 * ```ts
 * const registry = await TestRegistry.start();                     // registry.ts
 * const img = await pushBusyboxImage(registry, "test/busybox:1");
 * img.ref;            // "127.0.0.1:<port>/test/busybox:1"  → PullImage({image: {image: img.ref}})
 * img.imageId;        // "sha256:<config digest>" = the CRI image ID
 * img.manifestDigest; // "sha256:…" (repo digest = `${name}@${manifestDigest}`)
 * // Options: pushBusyboxImage(registry, name, { config: { User: "1000", Cmd: ["sleep","3600"] },
 * //   extraLayers: [[file("data/x.txt", "hello")]] })
 * ```
 *
 * Custom images: build layers from entries (`file`, `dir`, `symlink`, `hardlink`, `whiteout`,
 * `opaque`, `device`, `fifo` helpers or raw `TarEntry` objects, any path allowed — including
 * hostile ones like `../x` — for tests of the unpacker), then `buildImage` + `pushImage`, or
 * `pushIndex` for a multi-platform index:
 *
 * ```ts
 * const built = await buildImage({
 *   layers: [{ entries: [dir("a"), file("a/b", "hi", { mode: 0o4755 })], compression: "zstd" }],
 *   config: { Cmd: ["sh"] },
 * });
 * await pushImage(registry, "test/custom:v1", built);
 * ```
 */
import zlib from "node:zlib";
import type { TestRegistry } from "./registry.ts";

// ---------------------------------------------------------------------------------------
// Tar writer (ustar + PAX extended headers for long names, xattrs and large values)

export type TarEntryType = "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface TarEntry {
  /** Path inside the archive, written as given (e.g. "bin/sh", "../evil", "/abs"). */
  path: string;
  type: TarEntryType;
  content?: Uint8Array;
  /** Permission bits incl. setuid/setgid/sticky. Default 0o644 files, 0o755 dirs. */
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  /** Seconds since the epoch. Default 1700000000. */
  mtime?: number;
  /** Symlink target or hard-link source path. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Written as PAX `SCHILY.xattr.<name>` records (values are raw bytes or text). */
  xattrs?: Record<string, string | Uint8Array>;
}

type EntryOptions = Partial<Omit<TarEntry, "path" | "type" | "content" | "linkname">>;

const enc = new TextEncoder();

export function file(
  path: string,
  content: string | Uint8Array,
  opts: EntryOptions = {},
): TarEntry {
  return {
    path,
    type: "file",
    content: typeof content === "string" ? enc.encode(content) : content,
    ...opts,
  };
}
export function dir(path: string, opts: EntryOptions = {}): TarEntry {
  return { path, type: "dir", ...opts };
}
export function symlink(path: string, target: string, opts: EntryOptions = {}): TarEntry {
  return { path, type: "symlink", linkname: target, ...opts };
}
export function hardlink(path: string, source: string, opts: EntryOptions = {}): TarEntry {
  return { path, type: "hardlink", linkname: source, ...opts };
}
/** OCI whiteout: deletes `path` from lower layers. */
export function whiteout(path: string): TarEntry {
  const i = path.lastIndexOf("/");
  const name = i < 0 ? `.wh.${path}` : `${path.slice(0, i)}/.wh.${path.slice(i + 1)}`;
  return { path: name, type: "file", content: new Uint8Array() };
}
/** OCI opaque-dir marker: hides everything lower layers had under `dirPath`. */
export function opaque(dirPath: string): TarEntry {
  return { path: `${dirPath.replace(/\/$/, "")}/.wh..wh..opq`, type: "file" };
}
export function device(
  path: string,
  kind: "char" | "block",
  major: number,
  minor: number,
  opts: EntryOptions = {},
): TarEntry {
  return { path, type: kind, devmajor: major, devminor: minor, mode: 0o666, ...opts };
}
export function fifo(path: string, opts: EntryOptions = {}): TarEntry {
  return { path, type: "fifo", ...opts };
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  dir: "5",
  fifo: "6",
};

function writeString(buf: Uint8Array, offset: number, len: number, value: string): boolean {
  const bytes = enc.encode(value);
  if (bytes.length > len) return false;
  buf.set(bytes, offset);
  return true;
}

function writeOctal(buf: Uint8Array, offset: number, len: number, value: number): boolean {
  const s = value.toString(8);
  if (s.length > len - 1) return false;
  writeString(buf, offset, len, s.padStart(len - 1, "0") + "\0");
  return true;
}

function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const keyBytes = enc.encode(key);
  const rest = 1 + keyBytes.length + 1 + value.length + 1; // " key=value\n"
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  const out = new Uint8Array(len);
  let o = 0;
  out.set(enc.encode(`${len} ${key}=`), o);
  o += String(len).length + 1 + keyBytes.length + 1;
  out.set(value, o);
  out[len - 1] = 0x0a;
  return out;
}

function header(
  name: string,
  typeflag: string,
  size: number,
  e: Partial<TarEntry>,
  pax: Uint8Array[],
): Uint8Array {
  const h = new Uint8Array(512);
  let nameOk = writeString(h, 0, 100, name);
  if (!nameOk) {
    // ustar prefix split, else PAX path
    const slash = name.lastIndexOf("/", 155);
    if (slash > 0 && enc.encode(name.slice(slash + 1)).length <= 100 && slash <= 155) {
      nameOk = writeString(h, 0, 100, name.slice(slash + 1)) &&
        writeString(h, 345, 155, name.slice(0, slash));
    }
    if (!nameOk) {
      h.fill(0, 0, 100);
      h.fill(0, 345, 500);
      writeString(h, 0, 100, name.slice(0, 99));
      pax.push(paxRecord("path", enc.encode(name)));
    }
  }
  const num = (off: number, len: number, v: number, key: string) => {
    if (!writeOctal(h, off, len, v)) {
      writeOctal(h, off, len, 0);
      pax.push(paxRecord(key, enc.encode(String(v))));
    }
  };
  writeOctal(h, 100, 8, (e.mode ?? 0o644) & 0o7777);
  num(108, 8, e.uid ?? 0, "uid");
  num(116, 8, e.gid ?? 0, "gid");
  num(124, 12, size, "size");
  writeOctal(h, 136, 12, Math.floor(e.mtime ?? 1700000000));
  h[156] = typeflag.charCodeAt(0);
  if (e.linkname !== undefined && !writeString(h, 157, 100, e.linkname)) {
    pax.push(paxRecord("linkpath", enc.encode(e.linkname)));
  }
  writeString(h, 257, 6, "ustar\0");
  writeString(h, 263, 2, "00");
  writeString(h, 265, 32, e.uname ?? "");
  writeString(h, 297, 32, e.gname ?? "");
  writeOctal(h, 329, 8, e.devmajor ?? 0);
  writeOctal(h, 337, 8, e.devminor ?? 0);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  writeString(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

function pad512(n: number): number {
  return (512 - (n % 512)) % 512;
}

/** A complete uncompressed tar stream (with the two zero end blocks). */
export function tarArchive(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const content = e.type === "file" ? (e.content ?? new Uint8Array()) : new Uint8Array();
    const defaultMode = e.type === "dir" ? 0o755 : e.type === "symlink" ? 0o777 : 0o644;
    const pax: Uint8Array[] = [];
    for (const [k, v] of Object.entries(e.xattrs ?? {})) {
      pax.push(paxRecord(`SCHILY.xattr.${k}`, typeof v === "string" ? enc.encode(v) : v));
    }
    const main = header(e.path, TYPEFLAG[e.type], content.length, {
      ...e,
      mode: e.mode ?? defaultMode,
    }, pax);
    if (pax.length > 0) {
      const body = concat(pax);
      parts.push(header("PaxHeaders/" + e.path.slice(-80), "x", body.length, {}, []));
      parts.push(body, new Uint8Array(pad512(body.length)));
    }
    parts.push(main, content, new Uint8Array(pad512(content.length)));
  }
  parts.push(new Uint8Array(1024));
  return concat(parts);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Images

export type Compression = "gzip" | "zstd" | "none";

export interface LayerSpec {
  entries: TarEntry[];
  /** Default gzip. */
  compression?: Compression;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageConfigSpec {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string>;
  Volumes?: Record<string, Record<string, never>>;
  ExposedPorts?: Record<string, Record<string, never>>;
}

export interface ImageSpec {
  /** Lowest layer first. A bare entry list means a gzip layer. */
  layers: (LayerSpec | TarEntry[])[];
  config?: ImageConfigSpec;
  /** Default linux/amd64. */
  platform?: Platform;
  /** "oci" (default) or "docker" (schema 2 media types). */
  format?: "oci" | "docker";
}

export interface Blob {
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
}

export interface BuiltImage {
  manifest: Blob;
  config: Blob;
  layers: Blob[];
  /** Uncompressed layer digests, as in config.rootfs.diff_ids. */
  diffIds: string[];
  platform: Platform;
}

export async function sha256(bytes: Uint8Array): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return "sha256:" + Array.from(h, (b) => b.toString(16).padStart(2, "0")).join("");
}

const MEDIA = {
  oci: {
    manifest: "application/vnd.oci.image.manifest.v1+json",
    index: "application/vnd.oci.image.index.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layer: {
      gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
      zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
      none: "application/vnd.oci.image.layer.v1.tar",
    },
  },
  docker: {
    manifest: "application/vnd.docker.distribution.manifest.v2+json",
    index: "application/vnd.docker.distribution.manifest.list.v2+json",
    config: "application/vnd.docker.container.image.v1+json",
    layer: {
      gzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
      zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
      none: "application/vnd.docker.image.rootfs.diff.tar",
    },
  },
} as const;

export function compress(tar: Uint8Array, compression: Compression): Uint8Array {
  switch (compression) {
    case "gzip":
      return new Uint8Array(zlib.gzipSync(tar, { level: 1 }));
    case "zstd":
      return new Uint8Array(zlib.zstdCompressSync(tar));
    case "none":
      return tar;
  }
}

export async function buildImage(spec: ImageSpec): Promise<BuiltImage> {
  const format = spec.format ?? "oci";
  const media = MEDIA[format];
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const layers: Blob[] = [];
  const diffIds: string[] = [];
  for (const l of spec.layers) {
    const layer: LayerSpec = Array.isArray(l) ? { entries: l } : l;
    const compression = layer.compression ?? "gzip";
    const tar = tarArchive(layer.entries);
    diffIds.push(await sha256(tar));
    const bytes = compress(tar, compression);
    layers.push({ digest: await sha256(bytes), mediaType: media.layer[compression], bytes });
  }
  const configJson = {
    created: "2024-01-01T00:00:00Z",
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {
      Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
      ...spec.config,
    },
    rootfs: { type: "layers", diff_ids: diffIds },
    history: layers.map(() => ({ created: "2024-01-01T00:00:00Z", created_by: "oci_build.ts" })),
  };
  const configBytes = enc.encode(JSON.stringify(configJson));
  const config: Blob = {
    digest: await sha256(configBytes),
    mediaType: media.config,
    bytes: configBytes,
  };
  const manifestJson = {
    schemaVersion: 2,
    mediaType: media.manifest,
    config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
    layers: layers.map((b) => ({ mediaType: b.mediaType, digest: b.digest, size: b.bytes.length })),
  };
  const manifestBytes = enc.encode(JSON.stringify(manifestJson));
  return {
    manifest: {
      digest: await sha256(manifestBytes),
      mediaType: media.manifest,
      bytes: manifestBytes,
    },
    config,
    layers,
    diffIds,
    platform,
  };
}

// ---------------------------------------------------------------------------------------
// Pushing through the registry HTTP API v2

function splitNameTag(nameAndTag: string): { name: string; tag: string } {
  const at = nameAndTag.indexOf("@");
  if (at >= 0) return { name: nameAndTag.slice(0, at), tag: nameAndTag.slice(at + 1) };
  const colon = nameAndTag.lastIndexOf(":");
  if (colon > nameAndTag.lastIndexOf("/")) {
    return { name: nameAndTag.slice(0, colon), tag: nameAndTag.slice(colon + 1) };
  }
  return { name: nameAndTag, tag: "latest" };
}

function authHeaders(registry: TestRegistry): Record<string, string> {
  const a = registry.authHeader();
  return a ? { Authorization: a } : {};
}

/** Uploads one blob (monolithic POST + PUT) unless the registry already has it. */
export async function pushBlob(registry: TestRegistry, name: string, blob: Blob): Promise<void> {
  const head = await fetch(`${registry.url}/v2/${name}/blobs/${blob.digest}`, {
    method: "HEAD",
    headers: authHeaders(registry),
  });
  await head.body?.cancel();
  if (head.status === 200) return;
  const start = await fetch(`${registry.url}/v2/${name}/blobs/uploads/`, {
    method: "POST",
    headers: authHeaders(registry),
  });
  await start.body?.cancel();
  if (start.status !== 202) throw new Error(`blob upload start for ${name}: ${start.status}`);
  const location = new URL(start.headers.get("location")!, registry.url);
  location.searchParams.set("digest", blob.digest);
  const put = await fetch(location, {
    method: "PUT",
    headers: { ...authHeaders(registry), "Content-Type": "application/octet-stream" },
    body: blob.bytes as BodyInit,
  });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`blob upload ${blob.digest}: ${put.status} ${text}`);
}

async function putManifest(
  registry: TestRegistry,
  name: string,
  reference: string,
  manifest: Blob,
): Promise<void> {
  const res = await fetch(`${registry.url}/v2/${name}/manifests/${reference}`, {
    method: "PUT",
    headers: { ...authHeaders(registry), "Content-Type": manifest.mediaType },
    body: manifest.bytes as BodyInit,
  });
  const text = await res.text();
  if (res.status !== 201) {
    throw new Error(`manifest PUT ${name}:${reference}: ${res.status} ${text}`);
  }
}

export interface PushedImage {
  /** Full reference to pull: `127.0.0.1:<port>/<name>:<tag>`. */
  ref: string;
  /** `127.0.0.1:<port>/<name>` */
  repository: string;
  /** The CRI image ID: config digest. */
  imageId: string;
  /** Digest of what the tag points at (the manifest, or the index for pushIndex). */
  manifestDigest: string;
  built: BuiltImage[];
}

/** Pushes blobs then the manifest under `name:tag` (tag defaults to latest). */
export async function pushImage(
  registry: TestRegistry,
  nameAndTag: string,
  built: BuiltImage,
): Promise<PushedImage> {
  const { name, tag } = splitNameTag(nameAndTag);
  for (const blob of [...built.layers, built.config]) await pushBlob(registry, name, blob);
  await putManifest(registry, name, tag, built.manifest);
  return {
    ref: `${registry.host}/${name}:${tag}`,
    repository: `${registry.host}/${name}`,
    imageId: built.config.digest,
    manifestDigest: built.manifest.digest,
    built: [built],
  };
}

/**
 * Pushes several single-platform images and an index (OCI, or Docker manifest list with
 * `format: "docker"`) over them under `name:tag`. `imageId` is the first image's.
 */
export async function pushIndex(
  registry: TestRegistry,
  nameAndTag: string,
  images: BuiltImage[],
  format: "oci" | "docker" = "oci",
): Promise<PushedImage> {
  const { name, tag } = splitNameTag(nameAndTag);
  for (const img of images) {
    for (const blob of [...img.layers, img.config]) await pushBlob(registry, name, blob);
    await putManifest(registry, name, img.manifest.digest, img.manifest);
  }
  const indexJson = {
    schemaVersion: 2,
    mediaType: MEDIA[format].index,
    manifests: images.map((img) => ({
      mediaType: img.manifest.mediaType,
      digest: img.manifest.digest,
      size: img.manifest.bytes.length,
      platform: img.platform,
    })),
  };
  const bytes = enc.encode(JSON.stringify(indexJson));
  const index: Blob = { digest: await sha256(bytes), mediaType: MEDIA[format].index, bytes };
  await putManifest(registry, name, tag, index);
  return {
    ref: `${registry.host}/${name}:${tag}`,
    repository: `${registry.host}/${name}`,
    imageId: images[0].config.digest,
    manifestDigest: index.digest,
    built: images,
  };
}

/**
 * Overwrites a blob's bytes in the registry's storage (same length, different content), so
 * a pull sees a digest mismatch. Test-only trickery on docker-registry's filesystem layout.
 */
export async function corruptBlobInRegistry(registry: TestRegistry, digest: string): Promise<void> {
  const hex = digest.replace(/^sha256:/, "");
  const path = `${registry.dir}/storage/docker/registry/v2/blobs/sha256/${
    hex.slice(0, 2)
  }/${hex}/data`;
  const bytes = await Deno.readFile(path);
  for (let i = 0; i < bytes.length; i += 97) bytes[i] ^= 0xff;
  await Deno.writeFile(path, bytes);
}

// ---------------------------------------------------------------------------------------
// Busybox

const BUSYBOX = "/bin/busybox";

let busyboxLayerCache: TarEntry[] | undefined;

/** The entries of the busybox base layer (cached per process). */
export function busyboxLayerEntries(): TarEntry[] {
  if (busyboxLayerCache) return busyboxLayerCache;
  const applets = new TextDecoder().decode(
    new Deno.Command(BUSYBOX, { args: ["--list"], stdout: "piped" }).outputSync().stdout,
  ).split("\n").map((s) => s.trim()).filter((s) => s && s !== "busybox" && !s.includes("/"));
  const entries: TarEntry[] = [
    dir("bin"),
    dir("etc"),
    dir("dev"),
    dir("proc", { mode: 0o555 }),
    dir("sys", { mode: 0o555 }),
    dir("tmp", { mode: 0o1777 }),
    dir("root", { mode: 0o700 }),
    dir("home"),
    dir("home/app", { uid: 1000, gid: 1000 }),
    dir("usr"),
    dir("usr/bin"),
    dir("var"),
    dir("var/run"),
    file("bin/busybox", Deno.readFileSync(BUSYBOX), { mode: 0o755 }),
    ...applets.map((a) => symlink(`bin/${a}`, "busybox")),
    file(
      "etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n" +
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    ),
    file("etc/group", "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"),
    file("etc/hostname", "busybox\n"),
  ];
  busyboxLayerCache = entries;
  return entries;
}

export interface BusyboxOptions {
  /** Config overrides (default Cmd ["sh"]). */
  config?: ImageConfigSpec;
  /** More layers on top of the busybox layer, lowest first. */
  extraLayers?: (LayerSpec | TarEntry[])[];
  /** Layer compression for the busybox layer (default gzip). */
  compression?: Compression;
  platform?: Platform;
  format?: "oci" | "docker";
}

export function buildBusyboxImage(opts: BusyboxOptions = {}): Promise<BuiltImage> {
  return buildImage({
    layers: [
      { entries: busyboxLayerEntries(), compression: opts.compression ?? "gzip" },
      ...(opts.extraLayers ?? []),
    ],
    config: { Cmd: ["sh"], ...opts.config },
    platform: opts.platform,
    format: opts.format,
  });
}

/** Builds and pushes a small runnable busybox image as `name[:tag]` to `registry`. */
export async function pushBusyboxImage(
  registry: TestRegistry,
  nameAndTag: string,
  opts: BusyboxOptions = {},
): Promise<PushedImage> {
  return await pushImage(registry, nameAndTag, await buildBusyboxImage(opts));
}
