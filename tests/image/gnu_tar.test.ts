/**
 * The tar reader and applier on archives written by an independent tool: GNU tar in its
 * gnu (././@LongLink) and posix (PAX, with xattrs) formats, gzip-compressed, unpacked
 * through the layer store and compared entry by entry with the source tree.
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { createHash } from "node:crypto";
import { makeTempDir, missingPrerequisites } from "../helpers/env.ts";
import { ImageFixture } from "./fixture.ts";
import { lgetxattr, lsetxattr } from "../../linux/fs_syscalls.ts";

const skip = missingPrerequisites({ root: true, binaries: ["tar", "gzip"] });

async function sh(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stderr: "piped", stdout: "null" }).output();
  assert(out.success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

function walk(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(rel ? `${root}/${rel}` : root)) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    out.push(p);
    if (e.isDirectory) out.push(...walk(root, p));
  }
  return out.sort();
}

function describe(root: string, p: string): string {
  const st = Deno.lstatSync(`${root}/${p}`);
  const kind = st.isSymlink
    ? `l:${Deno.readLinkSync(`${root}/${p}`)}`
    : st.isDirectory
    ? "d"
    : st.isFile
    ? `f:${
      createHash("sha256").update(Deno.readFileSync(`${root}/${p}`)).digest("hex").slice(0, 12)
    }`
    : "other";
  const mtime = st.isDirectory ? "" : String(Math.floor(st.mtime!.getTime() / 1000));
  const cap = lgetxattr(`${root}/${p}`, "user.skiff");
  return `${p} ${kind} ${(st.mode! & 0o7777).toString(8)} ${st.uid}:${st.gid} ${mtime} ${
    cap ? new TextDecoder().decode(cap) : ""
  }`;
}

for (const format of ["gnu", "posix"] as const) {
  Deno.test({
    name: `unpack: GNU tar --format=${format} archives unpack identically to the source tree`,
    ignore: skip !== null,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const src = await makeTempDir("gnutar-src");
      const fx = await ImageFixture.create();
      try {
        const long = "d".repeat(90) + "/" + "e".repeat(90) + "/" + "f".repeat(150);
        Deno.mkdirSync(`${src}/tree/${long.slice(0, long.lastIndexOf("/"))}`, { recursive: true });
        Deno.writeTextFileSync(`${src}/tree/${long}`, "long name");
        Deno.writeTextFileSync(`${src}/tree/plain`, "plain");
        Deno.writeFileSync(`${src}/tree/random`, crypto.getRandomValues(new Uint8Array(60_000)));
        Deno.chmodSync(`${src}/tree/plain`, 0o4755);
        Deno.chownSync(`${src}/tree/random`, 1000, 1001);
        Deno.symlinkSync("/" + "t".repeat(120), `${src}/tree/longlink`);
        Deno.linkSync(`${src}/tree/plain`, `${src}/tree/hard`);
        Deno.mkdirSync(`${src}/tree/sticky`, { mode: 0o1777 });
        Deno.chmodSync(`${src}/tree/sticky`, 0o1777);
        if (format === "posix") {
          lsetxattr(`${src}/tree/random`, "user.skiff", new TextEncoder().encode("x"));
        }
        await sh("tar", [
          `--format=${format}`,
          ...(format === "posix" ? ["--xattrs", "--xattrs-include=user.*"] : []),
          "-czf",
          `${src}/layer.tgz`,
          "-C",
          `${src}/tree`,
          ".",
        ]);
        const bytes = Deno.readFileSync(`${src}/layer.tgz`);
        const diffId = "sha256:" + createHash("sha256").update(
          new Uint8Array(
            (await new Deno.Command("gzip", { args: ["-dc", `${src}/layer.tgz`], stdout: "piped" })
              .output()).stdout,
          ),
        ).digest("hex");
        const f = await Deno.open(`${src}/layer.tgz`);
        const rec = await fx.images.layers.unpack(
          diffId,
          diffId,
          "sha256:" + "0".repeat(64),
          f.readable,
        );
        assert(rec.inodes > 5);
        assert(bytes.length > 0);
        const out = fx.images.layers.dirFor(diffId);
        const want = walk(`${src}/tree`).map((p) => describe(`${src}/tree`, p));
        const got = walk(out).map((p) => describe(out, p));
        assertEquals(got, want);
        assertEquals(Deno.lstatSync(`${out}/hard`).ino, Deno.lstatSync(`${out}/plain`).ino);
      } finally {
        await fx.dispose();
        await Deno.remove(src, { recursive: true });
      }
    },
  });
}
