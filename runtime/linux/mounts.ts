/** Mount helpers driven through util-linux mount/umount (argv, never a shell string). */
import { InternalError } from "../../core/errors.ts";

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" })
    .output();
  return { ok: out.success, text: new TextDecoder().decode(out.stderr).trim() };
}

/** Whether `path` is a mount point, from /proc/self/mountinfo. */
export async function isMounted(path: string): Promise<boolean> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").some((l) => l.split(" ")[4]?.replace(/\\040/g, " ") === path);
}

/** Mounts a tmpfs at `target` (created if missing). */
export async function mountTmpfs(target: string, options: string): Promise<void> {
  await Deno.mkdir(target, { recursive: true, mode: 0o755 });
  const r = await run("mount", ["-t", "tmpfs", "-o", options, "shm", target]);
  if (!r.ok) throw new InternalError(`mount tmpfs on ${target} (${options}) failed: ${r.text}`);
}

/** Unmounts every mount stacked on `target`; a path that is not mounted is fine. */
export async function unmountAll(target: string): Promise<void> {
  for (let i = 0; i < 8 && await isMounted(target); i++) {
    const r = await run("umount", [target]);
    if (!r.ok) {
      const lazy = await run("umount", ["-l", target]);
      if (!lazy.ok) throw new InternalError(`umount ${target} failed: ${r.text}`);
    }
  }
}
