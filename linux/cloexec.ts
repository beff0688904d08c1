/**
 * Marks every open descriptor of this process close-on-exec. Deno (through its node:net
 * layer) creates some sockets without FD_CLOEXEC, so every child inherited the CRI listening
 * socket: a long-lived child (an exec session, a conmon, an infra process) then kept the
 * socket answering after Skiff died, and a restarted Skiff found it "already serving".
 * Called once the servers are bound; children spawned later inherit nothing but stdio.
 */
import { libc } from "./libc.ts";

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

/** Returns how many descriptors were changed. */
export function markAllDescriptorsCloexec(): number {
  const { fcntl } = libc();
  let changed = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    if (!Number.isInteger(fd) || fd <= 2) continue;
    const flags = fcntl(fd, F_GETFD, 0);
    if (flags < 0 || (flags & FD_CLOEXEC)) continue;
    if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) === 0) changed++;
  }
  return changed;
}
