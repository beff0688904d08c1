/**
 * The admin API and the operator CLI against a real Skiff process: the admin server over
 * its TCP socket (token checks, node summary, problem documents), and `skiff ps|pods|
 * images|inspect|rm|stats|dashboard` over the CRI socket with --output json. Routes and
 * commands whose CRI handlers are not built yet must answer UNIMPLEMENTED / 501 cleanly;
 * once a handler lands the same checks verify its JSON shape.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { skiffRunArgs, TestSkiff } from "../helpers/skiff.ts";
import { splitExecArgs } from "../../cli/mod.ts";

async function skiffCli(
  s: TestSkiff,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: skiffRunArgs([...args, "--config", s.configPath]),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A command whose RPC is not built yet fails naming UNIMPLEMENTED; returns whether it did. */
function unimplemented(r: { code: number; stderr: string }): boolean {
  if (r.code === 1 && r.stderr.includes("UNIMPLEMENTED")) {
    console.error(`  (not built yet: ${r.stderr.trim()})`);
    return true;
  }
  return false;
}

Deno.test("admin+cli: against a live Skiff", async (t) => {
  const s = await TestSkiff.create();
  try {
    await s.start();
    const token = await s.adminToken();
    const auth = { authorization: `Bearer ${token}` };

    await t.step("token file is 0600 and required over the real socket", async () => {
      assertEquals((await Deno.stat(`${s.rootDir}/admin.token`)).mode! & 0o777, 0o600);
      const no = await fetch(s.adminUrl("/api/v1/node"));
      assertEquals(no.status, 401);
      assertEquals((await no.json()).code, "UNAUTHENTICATED");
      const h = await fetch(s.adminUrl("/healthz"));
      assertEquals([h.status, await h.text()], [200, "ok\n"]);
      const page = await fetch(s.adminUrl("/"));
      assertEquals(page.status, 200);
      assertStringIncludes(await page.text(), "<title>Skiff");
    });

    await t.step("node summary from the real handlers", async () => {
      const res = await fetch(s.adminUrl("/api/v1/node"), { headers: auth });
      assertEquals(res.status, 200);
      const n = await res.json();
      assertEquals(n.version.runtime_name, "skiff");
      assert(n.conditions.some((c: { type: string }) => c.type === "RuntimeReady"));
      assert(n.host.cpus > 0);
    });

    await t.step("lists answer 200 or a 501 problem naming the missing RPC", async () => {
      for (
        const [path, key, rpc] of [
          ["/api/v1/pods", "items", "ListPodSandbox"],
          ["/api/v1/containers", "containers", "ListContainers"],
          ["/api/v1/images", "images", "ListImages"],
        ]
      ) {
        const res = await fetch(s.adminUrl(path), { headers: auth });
        const body = await res.json();
        if (res.status === 501) {
          assertEquals(body.code, "UNIMPLEMENTED");
          assertStringIncludes(body.detail, rpc);
        } else {
          assertEquals(res.status, 200, JSON.stringify(body));
          assert(Array.isArray(body[key]), `${path}: ${JSON.stringify(body)}`);
        }
      }
      const missing = await fetch(s.adminUrl("/api/v1/containers/does-not-exist"), {
        headers: auth,
      });
      const p = await missing.json();
      assert([404, 501].includes(missing.status), JSON.stringify(p));
      assertEquals(missing.headers.get("content-type"), "application/problem+json");
    });

    await t.step("skiff pods / ps / images --output json", async () => {
      const pods = await skiffCli(s, ["pods", "-o", "json"]);
      if (!unimplemented(pods)) {
        assertEquals(pods.code, 0, pods.stderr);
        assert(Array.isArray(JSON.parse(pods.stdout).items));
        const table = await skiffCli(s, ["pods"]);
        assertMatch(table.stdout, /^POD ID\s+CREATED\s+STATE\s+NAME\s+NAMESPACE/);
      }
      const ps = await skiffCli(s, ["ps", "-a", "-o", "json"]);
      if (!unimplemented(ps)) {
        assertEquals(ps.code, 0, ps.stderr);
        assert(Array.isArray(JSON.parse(ps.stdout).containers));
        const table = await skiffCli(s, ["ps", "-a"]);
        assertMatch(table.stdout, /^CONTAINER\s+IMAGE\s+CREATED\s+STATE\s+NAME/);
      }
      const images = await skiffCli(s, ["images", "-o", "json"]);
      if (!unimplemented(images)) {
        assertEquals(images.code, 0, images.stderr);
        assert(Array.isArray(JSON.parse(images.stdout).images));
      }
    });

    await t.step("skiff inspect / rm of an unknown ID fail clearly", async () => {
      const ins = await skiffCli(s, ["inspect", "no-such-thing"]);
      assertEquals(ins.code, 1);
      assertStringIncludes(ins.stderr, 'no container, pod or image "no-such-thing"');
      const rm = await skiffCli(s, ["rm", "no-such-thing", "-o", "json"]);
      assertEquals(rm.code, 1);
      assertEquals(JSON.parse(rm.stdout), { removed: [] });
      const bad = await skiffCli(s, ["ps", "--state", "sleepy"]);
      assertEquals(bad.code, 2);
    });

    await t.step("skiff dashboard prints the URL with the token", async () => {
      const d = await skiffCli(s, ["dashboard", "-o", "json"]);
      assertEquals(d.code, 0, d.stderr);
      assertEquals(JSON.parse(d.stdout).url, `http://127.0.0.1:${s.adminPort}/#token=${token}`);
    });
  } finally {
    await s.dispose();
  }
});

Deno.test("cli: exec flags end at the container ID", () => {
  assertEquals(splitExecArgs(["-it", "c1", "sh", "-c", "ls -l"]), {
    options: ["-i", "--tty"],
    command: ["c1", "sh", "-c", "ls -l"],
  });
  assertEquals(splitExecArgs(["--socket", "/x.sock", "-o", "json", "c1", "ls", "-la"]), {
    options: ["--socket", "/x.sock", "-o", "json"],
    command: ["c1", "ls", "-la"],
  });
  assertEquals(splitExecArgs(["-t", "--", "c1", "-weird"]), {
    options: ["--tty"],
    command: ["c1", "-weird"],
  });
});
