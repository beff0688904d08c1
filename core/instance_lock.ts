/**
 * One Skiff per root dir. Taken before anything else at start-up (before recovery touches
 * sandboxes, containers or images), so a second Skiff started by mistake is refused without
 * disturbing the running one. The lock is an flock on `<root_dir>/skiff.lock`: the kernel
 * drops it when the process dies, even by SIGKILL, so a restart never finds a stale lock.
 */
import { FailedPreconditionError } from "./errors.ts";

export interface InstanceLock {
  readonly path: string;
  release(): void;
}

export async function acquireInstanceLock(rootDir: string, waitMs = 1000): Promise<InstanceLock> {
  await Deno.mkdir(rootDir, { recursive: true, mode: 0o711 });
  const path = `${rootDir}/skiff.lock`;
  const file = await Deno.open(path, { create: true, write: true, mode: 0o600 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await Promise.race([
    file.lock(true).then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), waitMs);
    }),
  ]);
  clearTimeout(timer);
  if (!got) {
    // The pending lock request ends with the process, which is about to exit.
    throw new FailedPreconditionError(
      `another Skiff is already running with root_dir ${rootDir} (it holds ${path}); ` +
        `stop it first, or give this one its own root_dir`,
    );
  }
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return {
    path,
    release: () => {
      try {
        file.close();
      } catch {
        // already closed
      }
    },
  };
}
