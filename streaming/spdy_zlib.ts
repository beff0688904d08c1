/**
 * SPDY/3 header-block compression: one zlib stream per direction per connection, primed
 * with the SPDY dictionary, each header block ending in a sync flush.
 *
 * pako is used both ways because Deno's node:zlib deflate ignores `dictionary`. pako's
 * Inflate only hands output to `onData` when its buffer fills or the zlib stream ends, and
 * a SPDY stream never ends, so after each block the bytes written so far are taken
 * straight from its output buffer.
 */
import pako from "pako";
import { SPDY3_HEADER_DICTIONARY } from "./spdy_dictionary.ts";

const CHUNK = 16 * 1024;

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export class HeaderDeflater {
  #deflate = new pako.Deflate({ dictionary: SPDY3_HEADER_DICTIONARY, chunkSize: CHUNK });
  #out: Uint8Array[] = [];

  constructor() {
    this.#deflate.onData = (c: Uint8Array) => this.#out.push(c.slice());
  }

  compress(block: Uint8Array): Uint8Array {
    this.#out = [];
    this.#deflate.push(block, pako.constants.Z_SYNC_FLUSH);
    if (this.#deflate.err) throw new Error(`SPDY header compression failed: ${this.#deflate.msg}`);
    return concat(this.#out);
  }
}

interface PakoStream {
  output: Uint8Array;
  next_out: number;
}

export class HeaderInflater {
  #inflate = new pako.Inflate({ dictionary: SPDY3_HEADER_DICTIONARY, chunkSize: CHUNK });
  #out: Uint8Array[] = [];
  /** Which output buffer `#pos` refers to, and how much of it was already taken. */
  #buffer: ArrayBufferLike | null = null;
  #pos = 0;

  constructor() {
    this.#inflate.onData = (c: Uint8Array) => this.#take(c, c.length);
  }

  #take(buf: Uint8Array, end: number): void {
    if (buf.buffer !== this.#buffer) {
      this.#buffer = buf.buffer;
      this.#pos = 0;
    }
    if (end > this.#pos) this.#out.push(buf.slice(this.#pos, end));
    this.#pos = end;
  }

  decompress(block: Uint8Array): Uint8Array {
    this.#out = [];
    this.#inflate.push(block, pako.constants.Z_SYNC_FLUSH);
    if (this.#inflate.err) {
      throw new Error(`SPDY header block does not decompress: ${this.#inflate.msg}`);
    }
    const strm = (this.#inflate as unknown as { strm: PakoStream }).strm;
    if (strm.output) this.#take(strm.output, strm.next_out);
    return concat(this.#out);
  }
}
