/**
 * Optional TLS on the admin server: with admin.tls_cert/tls_key set, Skiff serves HTTPS
 * (a certificate for 127.0.0.1 from a test CA made here with openssl), plain HTTP is refused,
 * and the token is still required.
 */
import { assertEquals } from "./assert.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { missingPrerequisites } from "../helpers/env.ts";

const ignore = missingPrerequisites({ binaries: ["openssl"] }) !== null;

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(...argParts: string[][]): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args: argParts.flat(),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(`openssl: ${new TextDecoder().decode(out.stderr)}`);
}

Deno.test({ name: "admin: serves HTTPS when given a certificate", ignore }, async () => {
  const s = await TestSkiff.create();
  let client: Deno.HttpClient | undefined;
  try {
    const cert = `${s.dir}/admin.crt`;
    const key = `${s.dir}/admin.key`;
    const ca = `${s.dir}/ca.crt`;
    // A test CA and a server certificate for 127.0.0.1 signed by it (rustls refuses a
    // self-signed CA certificate used as the server's own).
    await openssl(
      ["req", "-x509", ...EC, "-subj", "/CN=skiff-test-ca", "-keyout", `${s.dir}/ca.key`],
      ["-out", ca, "-days", "1"],
    );
    await openssl([
      "req",
      ...EC,
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      key,
      "-out",
      `${s.dir}/a.csr`,
    ]);
    await Deno.writeTextFile(
      `${s.dir}/ext.cnf`,
      "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    await openssl([
      "x509",
      "-req",
      "-in",
      `${s.dir}/a.csr`,
      "-CA",
      ca,
      "-CAkey",
      `${s.dir}/ca.key`,
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${s.dir}/ext.cnf`,
      "-out",
      cert,
    ]);
    // TestSkiff writes [admin] itself: add the TLS keys to that table.
    const toml = s.configToml().replace(
      `address = "127.0.0.1:${s.adminPort}"`,
      `address = "127.0.0.1:${s.adminPort}"\ntls_cert = "${cert}"\ntls_key = "${key}"`,
    );
    await Deno.writeTextFile(s.configPath, toml);
    await s.start();

    client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(ca)] });
    const base = `https://127.0.0.1:${s.adminPort}`;
    const health = await fetch(`${base}/healthz`, { client });
    assertEquals([health.status, await health.text()], [200, "ok\n"]);
    const noToken = await fetch(`${base}/api/v1/node`, { client });
    assertEquals(noToken.status, 401);
    await noToken.body?.cancel();
    const node = await fetch(`${base}/api/v1/node`, {
      client,
      headers: { authorization: `Bearer ${await s.adminToken()}` },
    });
    assertEquals((await node.json()).version.runtime_name, "skiff");
    let plainRefused = false;
    try {
      const r = await fetch(`http://127.0.0.1:${s.adminPort}/healthz`);
      await r.body?.cancel();
    } catch {
      plainRefused = true;
    }
    assertEquals(plainRefused, true, "plain HTTP must not be served on the TLS port");
  } finally {
    client?.close();
    await s.dispose();
  }
});
