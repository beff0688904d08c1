/** Unit tests of user and group resolution inside the image root. */
import { assertEquals, assertThrows } from "../../tests/container/assert.ts";
import { makeTempDir } from "../../tests/helpers/env.ts";
import { parseGroup, parsePasswd, resolveInRoot, resolveUser } from "./mod.ts";

Deno.test("passwd/group parsing and user resolution inside the image root", async () => {
  const root = await makeTempDir("user");
  try {
    await Deno.mkdir(`${root}/etc`);
    await Deno.writeTextFile(
      `${root}/etc/passwd`,
      "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n# comment\nbad:line\n",
    );
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\napp:x:1001:\nextra:x:2000:app,x\n");
    assertEquals(parsePasswd(Deno.readTextFileSync(`${root}/etc/passwd`)).length, 2);
    assertEquals(parseGroup("g:x:5:a,b\n")[0].members, ["a", "b"]);
    const base = { supplementalGroups: [], strictGroups: false, imageUser: "" };
    assertEquals(resolveUser(root, base).uid, 0);
    const app = resolveUser(root, { ...base, username: "app" });
    assertEquals([app.uid, app.gid, app.additionalGids], [1000, 1001, [1001, 2000]]);
    assertEquals(resolveUser(root, { ...base, imageUser: "app:extra" }).gid, 2000);
    assertEquals(resolveUser(root, { ...base, imageUser: "1000" }).home, "/home/app");
    const strict = resolveUser(root, {
      ...base,
      uid: 1000,
      gid: 7,
      supplementalGroups: [9],
      strictGroups: true,
    });
    assertEquals([strict.gid, strict.additionalGids], [7, [7, 9]]);
    const unknown = resolveUser(root, { ...base, uid: 4242 });
    assertEquals([unknown.uid, unknown.gid, unknown.name], [4242, 0, null]);
    assertThrows(
      () => resolveUser(root, { ...base, username: "ghost" }),
      Error,
      "not in the image",
    );
    // A symlink in the image pointing at an absolute path stays inside the root.
    await Deno.mkdir(`${root}/x`);
    await Deno.symlink("/etc/shadow-not-here", `${root}/x/link`);
    assertEquals(resolveInRoot(root, "/x/link"), `${root}/etc/shadow-not-here`);
    await Deno.symlink("../../../../../etc", `${root}/x/up`);
    assertEquals(resolveInRoot(root, "/x/up/passwd"), `${root}/etc/passwd`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
