/**
 * The container's filesystem: its root, the kernel filesystems every container gets, the
 * pod's /etc files and /dev/shm, and the CRI bind mounts with their propagation.
 */
import { FailedPreconditionError, InvalidArgumentError } from "../../core/errors.ts";
import type { Mount } from "../model.ts";
import type { OciMount, SpecContext, SpecOption } from "./types.ts";

const PROPAGATION_OPTION: Record<string, string> = {
  PROPAGATION_PRIVATE: "rprivate",
  PROPAGATION_HOST_TO_CONTAINER: "rslave",
  PROPAGATION_BIDIRECTIONAL: "rshared",
};

/** A kernel filesystem (its source named after its type). */
function kernelMount(destination: string, type: string, options: string[]): OciMount {
  return { destination, type, source: type, options };
}

function bind(destination: string, source: string, options: string[]): OciMount {
  return { destination, type: "bind", source, options };
}

function depth(p: string): number {
  return p.split("/").filter(Boolean).length;
}

export const withRoot: SpecOption = (spec, ctx) => {
  spec.root = { path: ctx.rootfs, readonly: !!ctx.securityContext?.readonly_rootfs };
};

/** /proc, /dev and the rest; /sys and cgroups writable only for privileged containers. */
function kernelMounts(privileged: boolean): OciMount[] {
  const sys = privileged ? "rw" : "ro";
  return [
    kernelMount("/proc", "proc", ["nosuid", "noexec", "nodev"]),
    kernelMount("/dev", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
    kernelMount("/dev/pts", "devpts", [
      "nosuid",
      "noexec",
      "newinstance",
      "ptmxmode=0666",
      "mode=0620",
      "gid=5",
    ]),
    kernelMount("/dev/mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
    kernelMount("/sys", "sysfs", ["nosuid", "noexec", "nodev", sys]),
    kernelMount("/sys/fs/cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", sys]),
  ];
}

/** The pod's hosts, resolv.conf, hostname and /dev/shm, unless a CRI mount replaces one. */
function podMounts(ctx: SpecContext): OciMount[] {
  const { sandbox } = ctx;
  const criMounts = ctx.config.mounts ?? [];
  const inCri = (dst: string) => criMounts.some((m) => m.container_path === dst);
  const rw = ctx.securityContext?.readonly_rootfs ? "ro" : "rw";
  const out: OciMount[] = [];
  const podFiles: [string, string | null][] = [
    ["/etc/hosts", sandbox.hostsPath],
    ["/etc/resolv.conf", sandbox.resolvConfPath],
    ["/etc/hostname", sandbox.hostnamePath],
  ];
  for (const [dst, src] of podFiles) {
    if (src && !inCri(dst)) out.push(bind(dst, src, ["rbind", "rprivate", rw]));
  }
  if (!inCri("/dev/shm")) {
    out.push(
      sandbox.shmPath ? bind("/dev/shm", sandbox.shmPath, ["rbind", "rprivate", "rw"]) : {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
    );
  }
  return out;
}

/**
 * Every mount, CRI mounts shallowest first (so /data is mounted before /data/deep). A CRI
 * mount that propagates makes the root propagate too: rshared wins over rslave.
 */
export const withMounts: SpecOption = (spec, ctx) => {
  spec.mounts = [...kernelMounts(ctx.privileged), ...podMounts(ctx)];
  const sorted = [...(ctx.config.mounts ?? [])].sort((a, b) =>
    depth(a.container_path) - depth(b.container_path)
  );
  for (const m of sorted) {
    spec.mounts.push(criMount(m, ctx, (p) => {
      if (p === "rshared" || (p === "rslave" && spec.linux.rootfsPropagation !== "rshared")) {
        spec.linux.rootfsPropagation = p;
      }
    }));
  }
};

/** A CRI bind mount, checked against the propagation of its host mount. */
function criMount(m: Mount, ctx: SpecContext, propagated: (p: string) => void): OciMount {
  if (!m.container_path?.startsWith("/")) {
    throw new InvalidArgumentError(
      `mount container_path "${m.container_path}" must be an absolute path`,
    );
  }
  if (m.image?.image) {
    throw new InvalidArgumentError(
      `image volume mounts (${m.container_path} from ${m.image.image}) are not supported by this Skiff`,
    );
  }
  const propagation = PROPAGATION_OPTION[m.propagation ?? "PROPAGATION_PRIVATE"] ?? "rprivate";
  if (propagation !== "rprivate") {
    const hostProp = ctx.host.mountPropagation(m.host_path);
    if (propagation === "rshared" && hostProp !== "shared") {
      throw new FailedPreconditionError(
        `mount ${m.host_path} asks for Bidirectional propagation, but its host mount is not shared; ` +
          `make it shared on the node (mount --make-rshared)`,
      );
    }
    if (propagation === "rslave" && hostProp === "private") {
      throw new FailedPreconditionError(
        `mount ${m.host_path} asks for HostToContainer propagation, but its host mount is private; ` +
          `make it shared or slave on the node (mount --make-rshared)`,
      );
    }
    propagated(propagation);
  }
  const options = ["rbind", propagation];
  if (m.recursive_read_only) {
    if (!m.readonly) {
      throw new InvalidArgumentError(
        `mount ${m.container_path}: recursive_read_only needs readonly to be set too`,
      );
    }
    if (propagation !== "rprivate") {
      throw new InvalidArgumentError(
        `mount ${m.container_path}: recursive_read_only needs private propagation`,
      );
    }
    options.push("rro");
  } else options.push(m.readonly ? "ro" : "rw");
  return bind(m.container_path, m.host_path, options);
}
