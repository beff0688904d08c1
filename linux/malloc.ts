/**
 * Gives freed heap memory back to the system. A burst of connections (a flood of idle
 * ones, thousands of them) leaves tens of MiB that the allocator keeps after they are all
 * closed: RSS stays up although nothing uses it. malloc_trim(3) releases the free pages.
 */
import { libc } from "./libc.ts";

export function trimFreeMemory(): void {
  libc().malloc_trim(0n);
}
