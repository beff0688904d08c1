/** Device nodes of the host: what a container needs to know to get the same device. */

/** A device node, shaped as an OCI spec's `linux.devices` entry. */
export interface HostDevice {
  type: "c" | "b";
  path: string;
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
}

/** Major and minor numbers of a `st_rdev` (glibc's gnu_dev_major/gnu_dev_minor). */
export function splitDeviceNumber(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return {
    major: Number((r >> 8n) & 0xfffn),
    minor: Number((r & 0xffn) | ((r >> 12n) & 0xfff00n)),
  };
}

/** The device node at `path`, or null when it is missing or not a device. */
export function deviceOf(path: string): HostDevice | null {
  try {
    const st = Deno.statSync(path);
    if (!st.isCharDevice && !st.isBlockDevice) return null;
    return {
      type: st.isCharDevice ? "c" : "b",
      path,
      ...splitDeviceNumber(st.rdev ?? 0),
      fileMode: (st.mode ?? 0o666) & 0o777,
      uid: st.uid ?? 0,
      gid: st.gid ?? 0,
    };
  } catch {
    return null;
  }
}

/** Mounted fresh in a container (/dev/pts and friends) or the tty's (/dev/console). */
const SKIPPED = new Set(["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/console"]);

/** Every device node under the host's /dev (as containerd's WithDevices("/dev")). */
export function hostDevices(): HostDevice[] {
  const out: HostDevice[] = [];
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (SKIPPED.has(p)) continue;
      if (e.isDirectory) walk(p);
      else if (!e.isSymlink) {
        const d = deviceOf(p);
        if (d) out.push(d);
      }
    }
  };
  walk("/dev");
  return out;
}
