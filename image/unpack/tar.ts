/**
 * A streaming, push-based tar reader (ustar, GNU long names, PAX incl. binary xattrs).
 *
 * Why not npm:tar's Parser: its PAX decoder turns record values into UTF-8 strings and cuts
 * them at the first NUL, which destroys binary xattrs such as `security.capability`; and
 * its Minipass plumbing costs time per entry. This reader hands raw bytes to a sink
 * synchronously, so the applier writes as data arrives.
 */

export type TarEntryKind =
  | "file"
  | "hardlink"
  | "symlink"
  | "char"
  | "block"
  | "dir"
  | "fifo"
  | "unsupported";

export interface TarHeader {
  path: string;
  kind: TarEntryKind;
  /** The raw type flag, for messages about unsupported entries. */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (PAX may give fractions). */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Uint8Array>;
}

export interface TarSink {
  entry(h: TarHeader): void;
  /** Content of the current regular-file entry. */
  data(chunk: Uint8Array): void;
  entryEnd(): void;
}

export class TarFormatError extends Error {}

const dec = new TextDecoder();
const BLOCK = 512;
const MAX_META = 4 * 1024 * 1024;

function cstring(b: Uint8Array, off: number, len: number): string {
  let end = off;
  const lim = off + len;
  while (end < lim && b[end] !== 0) end++;
  return dec.decode(b.subarray(off, end));
}

function numeric(b: Uint8Array, off: number, len: number): number {
  if (b[off] & 0x80) {
    // GNU base-256: big-endian two's complement with the top bit set.
    let v = b[off] & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i];
    return v;
  }
  let v = 0;
  let seen = false;
  for (let i = off; i < off + len; i++) {
    const c = b[i];
    if (c === 0 || (c === 0x20 && seen)) break;
    if (c === 0x20) continue;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`bad octal number in tar header`);
    v = v * 8 + (c - 0x30);
    seen = true;
  }
  return v;
}

function checksumOk(b: Uint8Array): boolean {
  const stored = numeric(b, 148, 8);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  return stored === unsigned || stored === signed;
}

function kindOf(flag: string, name: string): TarEntryKind {
  switch (flag) {
    case "0":
    case "\0":
    case "7":
      return name.endsWith("/") ? "dir" : "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "char";
    case "4":
      return "block";
    case "5":
      return "dir";
    case "6":
      return "fifo";
    default:
      return "unsupported";
  }
}

interface Pax {
  fields: Map<string, string>;
  xattrs: Map<string, Uint8Array>;
}

function parsePax(b: Uint8Array): Pax {
  const fields = new Map<string, string>();
  const xattrs = new Map<string, Uint8Array>();
  let i = 0;
  while (i < b.length) {
    let sp = i;
    while (sp < b.length && b[sp] !== 0x20) sp++;
    const len = Number(dec.decode(b.subarray(i, sp)));
    if (!Number.isInteger(len) || len <= 0 || i + len > b.length) {
      if (b.subarray(i).every((c) => c === 0)) break;
      throw new TarFormatError("malformed PAX record");
    }
    const rec = b.subarray(sp + 1, i + len - 1); // without the trailing \n
    const eq = rec.indexOf(0x3d);
    if (eq < 0) throw new TarFormatError("malformed PAX record (no '=')");
    const key = dec.decode(rec.subarray(0, eq));
    const value = rec.subarray(eq + 1);
    if (key.startsWith("SCHILY.xattr.")) {
      xattrs.set(key.slice("SCHILY.xattr.".length), value.slice());
    } else if (key.startsWith("LIBARCHIVE.xattr.")) {
      const name = decodeURIComponent(key.slice("LIBARCHIVE.xattr.".length));
      xattrs.set(name, Uint8Array.from(atob(dec.decode(value)), (c) => c.charCodeAt(0)));
    } else {
      fields.set(key, dec.decode(value));
    }
    i += len;
  }
  return { fields, xattrs };
}

type State = "header" | "meta" | "data" | "skip" | "done";

export class TarReader {
  private state: State = "header";
  private header = new Uint8Array(BLOCK);
  private headerFill = 0;
  private meta = new Uint8Array(0);
  private metaFill = 0;
  private metaType = "";
  private remaining = 0;
  private padding = 0;
  private zeroBlocks = 0;
  private pax?: Pax;
  private globalPax?: Pax;
  private longName?: string;
  private longLink?: string;
  private deliver = false;
  entries = 0;

  constructor(private readonly sink: TarSink) {}

  /**
   * Reads `chunk`, handing entries to the sink; returns the bytes consumed. With `pauseAt`
   * (a `performance.now()` time) it stops early at the first entry boundary at or after it,
   * so a caller can give the event loop a turn between entries and push the rest later.
   */
  push(chunk: Uint8Array, pauseAt = Infinity): number {
    let off = 0;
    while (off < chunk.length) {
      switch (this.state) {
        case "done":
          return chunk.length;
        case "header": {
          if (this.headerFill === 0 && off > 0 && performance.now() >= pauseAt) return off;
          const n = Math.min(BLOCK - this.headerFill, chunk.length - off);
          this.header.set(chunk.subarray(off, off + n), this.headerFill);
          this.headerFill += n;
          off += n;
          if (this.headerFill === BLOCK) {
            this.headerFill = 0;
            this.onHeader();
          }
          break;
        }
        case "meta": {
          const n = Math.min(this.meta.length - this.metaFill, chunk.length - off);
          this.meta.set(chunk.subarray(off, off + n), this.metaFill);
          this.metaFill += n;
          off += n;
          if (this.metaFill === this.meta.length) this.onMeta();
          break;
        }
        case "data": {
          const n = Math.min(this.remaining, chunk.length - off);
          if (this.deliver) this.sink.data(chunk.subarray(off, off + n));
          this.remaining -= n;
          off += n;
          if (this.remaining === 0) this.endData();
          break;
        }
        case "skip": {
          const n = Math.min(this.padding, chunk.length - off);
          this.padding -= n;
          off += n;
          if (this.padding === 0) this.state = "header";
          break;
        }
      }
    }
    return off;
  }

  /** Call at end of input: throws when the archive stopped mid-entry. */
  finish(): void {
    if (this.state === "done") return;
    // Some writers omit the end-of-archive blocks; an entry boundary is a clean end.
    if (this.state === "header" && this.headerFill === 0) return;
    throw new TarFormatError("the layer's tar stream ended in the middle of an entry");
  }

  private onHeader(): void {
    const h = this.header;
    if (h.every((c) => c === 0)) {
      if (++this.zeroBlocks >= 2) this.state = "done";
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumOk(h)) throw new TarFormatError("tar header checksum mismatch (corrupt layer)");
    const flag = String.fromCharCode(h[156]);
    let size = numeric(h, 124, 12);
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > MAX_META) {
        throw new TarFormatError(`tar metadata entry of ${size} bytes is too large`);
      }
      this.meta = new Uint8Array(size);
      this.metaFill = 0;
      this.metaType = flag;
      this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
      this.state = "meta";
      if (size === 0) this.onMeta();
      return;
    }
    const magic = cstring(h, 257, 6);
    const version = dec.decode(h.subarray(263, 265));
    let name = cstring(h, 0, 100);
    // POSIX ustar has a prefix field; GNU ("ustar  ") uses that space for other things.
    if (magic === "ustar" && version === "00") {
      const prefix = cstring(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let linkname = cstring(h, 157, 100);
    let uid = numeric(h, 108, 8);
    let gid = numeric(h, 116, 8);
    let mtime = numeric(h, 136, 12);
    let devmajor = numeric(h, 329, 8);
    let devminor = numeric(h, 337, 8);
    let xattrs = new Map<string, Uint8Array>();
    for (const pax of [this.globalPax, this.pax]) {
      if (!pax) continue;
      const f = pax.fields;
      if (f.has("path")) name = f.get("path")!;
      if (f.has("linkpath")) linkname = f.get("linkpath")!;
      if (f.has("size")) size = Number(f.get("size"));
      if (f.has("uid")) uid = Number(f.get("uid"));
      if (f.has("gid")) gid = Number(f.get("gid"));
      if (f.has("mtime")) mtime = Number(f.get("mtime"));
      if (f.has("SCHILY.devmajor")) devmajor = Number(f.get("SCHILY.devmajor"));
      if (f.has("SCHILY.devminor")) devminor = Number(f.get("SCHILY.devminor"));
      if (pax === this.pax) xattrs = pax.xattrs;
    }
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) linkname = this.longLink;
    this.pax = undefined;
    this.longName = undefined;
    this.longLink = undefined;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new TarFormatError(`bad entry size for ${JSON.stringify(name.slice(0, 120))}`);
    }
    const kind = kindOf(flag, name);
    this.entries++;
    this.sink.entry({
      path: name,
      kind,
      typeflag: flag,
      mode: numeric(h, 100, 8) & 0o7777,
      uid,
      gid,
      size,
      mtime,
      linkname,
      devmajor,
      devminor,
      xattrs,
    });
    // Only regular files carry content for the sink; other entries' bodies are skipped.
    this.deliver = kind === "file";
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.endData();
    else this.state = "data";
  }

  private endData(): void {
    if (this.deliver) this.sink.entryEnd();
    this.deliver = false;
    this.state = this.padding > 0 ? "skip" : "header";
  }

  private onMeta(): void {
    const b = this.meta;
    switch (this.metaType) {
      case "x":
        this.pax = parsePax(b);
        break;
      case "g":
        this.globalPax = parsePax(b);
        this.globalPax.xattrs.clear();
        break;
      case "L":
        this.longName = cstring(b, 0, b.length);
        break;
      case "K":
        this.longLink = cstring(b, 0, b.length);
        break;
    }
    this.meta = new Uint8Array(0);
    this.state = this.padding > 0 ? "skip" : "header";
  }
}
