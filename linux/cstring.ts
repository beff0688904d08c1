/** NUL-terminated strings for libc calls made through FFI. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  const b = new TextEncoder().encode(s + "\0");
  const out = new Uint8Array(new ArrayBuffer(b.length));
  out.set(b);
  return out;
}
