/**
 * Resolving a container's user and groups against the image's own `/etc/passwd` and
 * `/etc/group`, as containerd and CRI-O do: names are looked up in the image, never on the
 * host, and every path is resolved inside the container's root so that a symlink in the
 * image cannot make Skiff read a host file.
 */
import { InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import type { SpecOption } from "./types.ts";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The colon-separated fields of each entry of an /etc/passwd-style file. */
function entries(text: string, minFields: number): string[][] {
  return text.split("\n")
    .filter((line) => line.trim() && !line.startsWith("#"))
    .map((line) => line.split(":"))
    .filter((f) => f.length >= minFields);
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of entries(text, 4)) {
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === "" || f[3] === "") continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? "" });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of entries(text, 3)) {
    const gid = Number(f[2]);
    if (!Number.isInteger(gid) || f[2] === "") continue;
    out.push({
      name: f[0],
      gid,
      members: (f[3] ?? "").split(",").map((m) => m.trim()).filter(Boolean),
    });
  }
  return out;
}

/**
 * Resolves `path` (absolute, as seen inside the container) to a host path below `root`,
 * following symlinks as the container would see them, never leaving `root`.
 */
export function resolveInRoot(root: string, path: string): string {
  let parts = path.split("/").filter((p) => p && p !== ".");
  const done: string[] = [];
  let hops = 0;
  while (parts.length) {
    const p = parts.shift()!;
    if (p === "..") {
      done.pop();
      continue;
    }
    const candidate = `${root}/${[...done, p].join("/")}`;
    let link: string | null = null;
    try {
      if (Deno.lstatSync(candidate).isSymlink) link = Deno.readLinkSync(candidate);
    } catch {
      // missing: the rest resolves lexically
    }
    if (link === null) {
      done.push(p);
      continue;
    }
    if (++hops > 40) {
      throw new InvalidArgumentError(`too many symlinks resolving ${path} in the image`);
    }
    const linkParts = link.split("/").filter((x) => x && x !== ".");
    if (link.startsWith("/")) done.length = 0;
    parts = [...linkParts, ...parts];
  }
  return `${root}/${done.join("/")}`;
}

function readInRoot(root: string, path: string): string {
  try {
    return Deno.readTextFileSync(resolveInRoot(root, path));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  }
}

export interface UserRequest {
  /** CRI run_as_user (takes precedence over the username). */
  uid?: number;
  /** CRI run_as_username. */
  username?: string;
  /** CRI run_as_group. */
  gid?: number;
  /** CRI supplemental_groups. */
  supplementalGroups: number[];
  /** "Strict" ignores the image's /etc/group memberships. */
  strictGroups: boolean;
  /** The image config's `User` (`name`, `uid`, `name:group`, `uid:gid`). */
  imageUser: string;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** Username when the uid is known to the image (for HOME and reporting). */
  name: string | null;
  home: string;
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/**
 * Resolves the process user the way containerd does: CRI uid/username win over the image's
 * `User`; the primary group comes from run_as_group, the `user:group` spec or the passwd
 * entry; supplemental groups are the image's memberships of that user plus the CRI list.
 */
export function resolveUser(root: string, req: UserRequest): ResolvedUser {
  const passwd = parsePasswd(readInRoot(root, "/etc/passwd"));
  const groups = parseGroup(readInRoot(root, "/etc/group"));

  let userPart: string;
  let groupPart: string | undefined;
  if (req.uid !== undefined) userPart = String(req.uid);
  else if (req.username) userPart = req.username;
  else {
    const [u, g] = req.imageUser.split(":", 2);
    userPart = u || "0";
    groupPart = g || undefined;
  }

  let uid: number;
  let entry: PasswdEntry | undefined;
  if (isNumeric(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      throw new NotFoundError(
        `user "${userPart}" is not in the image's /etc/passwd; use a numeric run_as_user or add the user to the image`,
      );
    }
    uid = entry.uid;
  }

  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined) {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        throw new NotFoundError(
          `group "${groupPart}" (from the image's User) is not in the image's /etc/group`,
        );
      }
      gid = g.gid;
    }
  }
  if (req.gid !== undefined) gid = req.gid;

  const additional = new Set<number>();
  if (!req.strictGroups && entry) {
    for (const g of groups) {
      if (g.members.includes(entry.name) && g.gid !== gid) additional.add(g.gid);
    }
  }
  for (const g of req.supplementalGroups) additional.add(g);
  return {
    uid,
    gid,
    additionalGids: [gid, ...[...additional].filter((g) => g !== gid)],
    name: entry?.name ?? null,
    home: entry?.home || "/",
  };
}

/** The process user, resolved beforehand (it needs the mounted rootfs). */
export const withUser: SpecOption = (spec, { user }) => {
  spec.process.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
};
