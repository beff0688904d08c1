/**
 * HPACK (RFC 7541): a complete decoder (static + dynamic table, Huffman, table size updates)
 * and an encoder that only emits literal-without-indexing / never-indexed representations.
 *
 * The encoder never adds to the peer's dynamic table: the gRPC server's response headers
 * are few and mostly fixed (cri/http2/connection.ts encodes the common ones once), and a
 * table that stays empty costs the server no state per connection.
 *
 * Header names and values are kept as "binary strings" (one char per octet, latin1), so
 * any octet sequence survives a decode/encode round trip unchanged.
 */
import { HUFFMAN_CODE_LENGTHS, HUFFMAN_CODES, STATIC_TABLE } from "./hpack_tables.ts";

export interface HeaderField {
  name: string;
  value: string;
  /** Sent as "never indexed" (RFC 7541 §6.2.3); must stay so when forwarded. */
  sensitive: boolean;
}

/** A header block that violates RFC 7541: a COMPRESSION_ERROR for the connection. */
export class HpackError extends Error {
  constructor(message: string) {
    super(`HPACK: ${message}`);
    this.name = "HpackError";
  }
}

/** RFC 7541 §4.1: an entry's size is its name and value octets plus 32. */
const ENTRY_OVERHEAD = 32;
const EOS = 256;

// ---------------------------------------------------------------------------------------
// Huffman

/**
 * The decoding trie: node i has children at [2i] (bit 0) and [2i+1] (bit 1); a child value
 * >= 0 is another node, < 0 is a leaf holding symbol -(value+1). 0 means "no child yet"
 * (node 0 is the root and never anyone's child).
 */
const HUFFMAN_TRIE: Int32Array = (() => {
  const trie = new Int32Array(2 * 512);
  let nodes = 1;
  const add = (code: number, length: number, symbol: number) => {
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) {
        trie[slot] = -(symbol + 1);
      } else {
        if (trie[slot] === 0) trie[slot] = nodes++;
        node = trie[slot];
      }
    }
  };
  for (let s = 0; s < 256; s++) add(HUFFMAN_CODES[s], HUFFMAN_CODE_LENGTHS[s], s);
  add(0x3fffffff, 30, EOS);
  return trie;
})();

export function huffmanDecode(bytes: Uint8Array): string {
  const out: number[] = [];
  let node = 0;
  // Bits consumed since the last complete symbol, and whether they were all ones: the
  // padding rule (§5.2) allows at most 7 bits, all ones (a prefix of EOS).
  let pendingBits = 0;
  let pendingAllOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >>> bit) & 1;
      const next = HUFFMAN_TRIE[2 * node + b];
      pendingBits++;
      if (b === 0) pendingAllOnes = false;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === EOS) throw new HpackError("Huffman string contains EOS");
        out.push(symbol);
        node = 0;
        pendingBits = 0;
        pendingAllOnes = true;
      } else if (next === 0) {
        throw new HpackError("invalid Huffman code");
      } else {
        node = next;
      }
    }
  }
  if (pendingBits > 7 || !pendingAllOnes) {
    throw new HpackError("invalid Huffman padding");
  }
  return octetsToString(out);
}

export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_CODE_LENGTHS[s.charCodeAt(i) & 0xff];
  return Math.ceil(bits / 8);
}

export function huffmanEncode(s: string): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(s));
  let acc = 0; // pending bits, right-aligned; never more than 7 + 30 bits, kept below 2^53
  let accBits = 0;
  let pos = 0;
  for (let i = 0; i < s.length; i++) {
    const sym = s.charCodeAt(i) & 0xff;
    const len = HUFFMAN_CODE_LENGTHS[sym];
    acc = acc * 2 ** len + HUFFMAN_CODES[sym];
    accBits += len;
    while (accBits >= 8) {
      accBits -= 8;
      const byte = Math.floor(acc / 2 ** accBits);
      out[pos++] = byte;
      acc -= byte * 2 ** accBits;
    }
  }
  if (accBits > 0) {
    // Pad with the most significant bits of EOS (all ones).
    out[pos++] = (acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1);
  }
  return out;
}

function octetsToString(octets: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < octets.length; i += 4096) {
    s += String.fromCharCode(...Array.prototype.slice.call(octets, i, i + 4096));
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Primitives

/** Reads an N-bit-prefix integer (§5.1) at `pos`; returns [value, next position]. */
function readInteger(buf: Uint8Array, pos: number, prefixBits: number): [number, number] {
  if (pos >= buf.length) throw new HpackError("truncated integer");
  const max = (1 << prefixBits) - 1;
  let value = buf[pos++] & max;
  if (value < max) return [value, pos];
  let shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new HpackError("truncated integer");
    const b = buf[pos++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (value > 0x7fffffff) throw new HpackError("integer overflow");
    if ((b & 0x80) === 0) return [value, pos];
  }
}

function readString(buf: Uint8Array, pos: number): [string, number] {
  if (pos >= buf.length) throw new HpackError("truncated string");
  const huffman = (buf[pos] & 0x80) !== 0;
  const [length, start] = readInteger(buf, pos, 7);
  const end = start + length;
  if (end > buf.length) throw new HpackError("string runs past the end of the block");
  const bytes = buf.subarray(start, end);
  return [huffman ? huffmanDecode(bytes) : octetsToString(bytes), end];
}

/** Appends an N-bit-prefix integer; `first` holds the representation's flag bits. */
function writeInteger(out: number[], first: number, prefixBits: number, value: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

function writeString(out: number[], s: string): void {
  const hlen = huffmanEncodedLength(s);
  if (hlen < s.length) {
    writeInteger(out, 0x80, 7, hlen);
    for (const b of huffmanEncode(s)) out.push(b);
  } else {
    writeInteger(out, 0, 7, s.length);
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  }
}

// ---------------------------------------------------------------------------------------
// Decoder

export class HpackDecoder {
  /** Newest entry first: dynamic index 62 is entries[0]. */
  private entries: [string, string][] = [];
  private size = 0;
  private maxSize: number;

  /**
   * `protocolMaxSize` bounds the table size updates the peer may send (the
   * SETTINGS_HEADER_TABLE_SIZE the receiving side advertised; 4096 by default).
   */
  constructor(private readonly protocolMaxSize = 4096) {
    this.maxSize = protocolMaxSize;
  }

  get tableSize(): number {
    return this.size;
  }
  get tableLength(): number {
    return this.entries.length;
  }

  private evict(): void {
    while (this.size > this.maxSize && this.entries.length > 0) {
      const [n, v] = this.entries.pop()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }

  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    this.entries.unshift([name, value]);
    this.size += entrySize;
    // An entry larger than the table empties it (§4.4), itself included.
    this.evict();
  }

  private lookup(index: number): [string, string] {
    if (index === 0) throw new HpackError("index 0 is not allowed");
    if (index <= STATIC_TABLE.length) {
      const [n, v] = STATIC_TABLE[index - 1];
      return [n, v];
    }
    const e = this.entries[index - STATIC_TABLE.length - 1];
    if (!e) throw new HpackError(`index ${index} is beyond the dynamic table`);
    return e;
  }

  /**
   * Decodes one complete header block, updating the dynamic table. `maxListSize` bounds the
   * decoded list (RFC 9113 §6.5.2 sizes): a few bytes that index a large table entry again
   * and again would otherwise expand into megabytes.
   */
  decode(block: Uint8Array, maxListSize = Infinity): HeaderField[] {
    const fields: HeaderField[] = [];
    let pos = 0;
    let sawField = false;
    let listSize = 0;
    const add = (field: HeaderField) => {
      listSize += field.name.length + field.value.length + ENTRY_OVERHEAD;
      if (listSize > maxListSize) {
        throw new HpackError(`header list larger than ${maxListSize} bytes`);
      }
      fields.push(field);
    };
    while (pos < block.length) {
      const b = block[pos];
      if (b & 0x80) {
        // Indexed header field (§6.1).
        const [index, next] = readInteger(block, pos, 7);
        pos = next;
        const [name, value] = this.lookup(index);
        add({ name, value, sensitive: false });
        sawField = true;
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (sawField) throw new HpackError("table size update after a header field");
        const [size, next] = readInteger(block, pos, 5);
        pos = next;
        if (size > this.protocolMaxSize) {
          throw new HpackError(`table size ${size} exceeds the allowed ${this.protocolMaxSize}`);
        }
        this.maxSize = size;
        this.evict();
      } else {
        // Literal: with incremental indexing (01), never indexed (0001), without (0000).
        const incremental = (b & 0xc0) === 0x40;
        const sensitive = !incremental && (b & 0xf0) === 0x10;
        const [index, afterIndex] = readInteger(block, pos, incremental ? 6 : 4);
        pos = afterIndex;
        let name: string;
        if (index === 0) [name, pos] = readString(block, pos);
        else name = this.lookup(index)[0];
        let value: string;
        [value, pos] = readString(block, pos);
        if (incremental) this.insert(name, value);
        add({ name, value, sensitive });
        sawField = true;
      }
    }
    return fields;
  }
}

// ---------------------------------------------------------------------------------------
// Encoder

/** First static-table index for each name. */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});

/**
 * Encodes a header list without touching the receiver's dynamic table: every field is a
 * literal without indexing (or never indexed, for sensitive fields), naming the static
 * table entry when the name is there.
 */
export function encodeWithoutIndexing(fields: readonly HeaderField[]): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    const flags = f.sensitive ? 0x10 : 0x00;
    const nameIndex = STATIC_NAME_INDEX.get(f.name);
    if (nameIndex !== undefined) {
      writeInteger(out, flags, 4, nameIndex);
    } else {
      writeInteger(out, flags, 4, 0);
      writeString(out, f.name);
    }
    writeString(out, f.value);
  }
  return new Uint8Array(out);
}

/** Test and bench helper: encodes with incremental indexing, as a real client might. */
export class HpackIndexingEncoder {
  private entries: [string, string][] = [];
  private size = 0;
  constructor(private readonly maxSize = 4096) {}

  encode(fields: readonly { name: string; value: string }[]): Uint8Array {
    const out: number[] = [];
    for (const { name, value } of fields) {
      const staticFull = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
      if (staticFull >= 0) {
        writeInteger(out, 0x80, 7, staticFull + 1);
        continue;
      }
      const dyn = this.entries.findIndex(([n, v]) => n === name && v === value);
      if (dyn >= 0) {
        writeInteger(out, 0x80, 7, STATIC_TABLE.length + dyn + 1);
        continue;
      }
      const nameIndex = STATIC_NAME_INDEX.get(name);
      if (nameIndex !== undefined) writeInteger(out, 0x40, 6, nameIndex);
      else {
        writeInteger(out, 0x40, 6, 0);
        writeString(out, name);
      }
      writeString(out, value);
      this.entries.unshift([name, value]);
      this.size += name.length + value.length + ENTRY_OVERHEAD;
      while (this.size > this.maxSize && this.entries.length > 0) {
        const [n, v] = this.entries.pop()!;
        this.size -= n.length + v.length + ENTRY_OVERHEAD;
      }
    }
    return new Uint8Array(out);
  }
}
