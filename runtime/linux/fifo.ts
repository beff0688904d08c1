/** mkfifo(3) through FFI: a FIFO for conmon's sync/start pipes without spawning mkfifo(1). */
import { cString } from "./cstring.ts";

let mkfifoFn: ((path: Uint8Array<ArrayBuffer>, mode: number) => number) | null = null;

/** Creates a FIFO with `mode`; throws the OS error (e.g. EEXIST) when it cannot. */
export function mkfifoSync(path: string, mode = 0o600): void {
  if (!mkfifoFn) {
    const lib = Deno.dlopen("libc.so.6", {
      mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
    });
    mkfifoFn = (p, m) => lib.symbols.mkfifo(p, m);
  }
  if (mkfifoFn(cString(path), mode) !== 0) {
    // errno is not reachable through Deno's FFI; stat tells the common cases apart.
    let why = "failed";
    try {
      Deno.lstatSync(path);
      why = "the path exists";
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) why = "no such directory, or not permitted";
    }
    throw new Error(`mkfifo ${path}: ${why}`);
  }
  // The process umask may have narrowed the mode; make it exactly what was asked.
  Deno.chmodSync(path, mode);
}
