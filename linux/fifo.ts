/** mkfifo(3) through FFI: a FIFO for conmon's sync/start pipes without spawning mkfifo(1). */
import { cString, lastError, libc } from "./libc.ts";

/** Creates a FIFO with `mode`; throws the OS error (e.g. EEXIST) when it cannot. */
export function mkfifoSync(path: string, mode = 0o600): void {
  if (libc().mkfifo(cString(path), mode) !== 0) {
    throw new Error(`mkfifo ${path}: ${lastError().text}`);
  }
  // The process umask may have narrowed the mode; make it exactly what was asked.
  Deno.chmodSync(path, mode);
}
