/**
 * Gives freed heap memory back to the system. glibc's malloc keeps what was freed for
 * reuse: after a burst of work (pods created and removed, a flood of connections) tens of
 * MiB stay resident although nothing uses them. malloc_trim(3) releases the free pages.
 * (When to call it: core/memory.ts.)
 */
import { libc } from "./libc.ts";

export function trimFreeMemory(): void {
  libc().malloc_trim(0n);
}
