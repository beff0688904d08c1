/**
 * Bind mounts of a container in a pod with its own user namespace: each source (volumes,
 * the pod's /etc/hosts, /etc/hostname, /etc/resolv.conf and /dev/shm, the termination-log
 * file) is cloned as an idmapped mount under `<bundle>/idmap/<n>` and runc binds the clone,
 * so host-root-owned files show as owned by the pod's root and its writes land as the
 * files' real owners. runc 1.1 cannot do this itself. A source whose filesystem cannot be
 * idmapped (an overlay image volume, a kernel without tmpfs idmapping) is bound as it is:
 * reachable, its files owned by the overflow ID inside. The clones are unmounted with all
 * else under the bundle when the container's leftovers are removed (cleanup.ts).
 */
import type { Logger } from "../../core/log.ts";
import { mountIdmapped } from "../../linux/idmap.ts";
import type { OciSpec } from "../spec/mod.ts";

export function idmapDir(bundleDir: string): string {
  return `${bundleDir}/idmap`;
}

export async function idmapBindMounts(
  spec: OciSpec,
  bundleDir: string,
  usernsPath: string,
  log: Logger,
): Promise<void> {
  for (const [i, m] of spec.mounts.entries()) {
    if (m.type !== "bind" || !m.source) continue;
    const clone = `${idmapDir(bundleDir)}/${i}`;
    try {
      await mountIdmapped(m.source, clone, usernsPath, m.options?.includes("rbind") ?? false);
      m.source = clone;
    } catch (err) {
      await Deno.remove(clone).catch(() => {});
      log.warn("bind mount not idmapped; bound as it is", {
        destination: m.destination,
        error: (err as Error).message,
      });
    }
  }
}
