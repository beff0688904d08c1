/**
 * The offline release tarball and the installer, for real: scripts/release.sh builds the
 * tarball, it is unpacked in a temp dir, `bin/skiff version` runs, `bin/skiff serve` runs
 * with no network at all (`unshare --net`, only loopback) and answers Version over its
 * socket; scripts/install and scripts/uninstall run against a temporary --root.
 */
import assert from "node:assert/strict";
import { defaultConfig, parseConfig } from "../../core/config/mod.ts";
import { SKIFF_VERSION } from "../../core/version.ts";
import { DAEMON_ENV, DAEMON_RUN_FLAGS } from "../../core/v8_flags.ts";
import { CriClient } from "../../cri/client.ts";
import { makeTempDir, missingPrerequisites } from "../helpers/env.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const decoder = new TextDecoder();

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const out = await new Deno.Command(cmd, {
    args,
    env,
    clearEnv: env !== undefined,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = decoder.decode(out.stdout);
  const stderr = decoder.decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${out.code}:\n${stdout}\n${stderr}`);
  }
  return { stdout, stderr };
}

const CLEAN_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" };
const missing = missingPrerequisites({ root: true, binaries: ["unshare", "git", "tar", "ip"] });

Deno.test({
  name:
    "release: offline tarball builds, unpacks, runs version, serves CRI with no network; install/uninstall",
  ignore: missing !== null,
  fn: async (t) => {
    const dir = await makeTempDir("release");
    try {
      const built = await run(`${ROOT}/scripts/release.sh`, ["--output", `${dir}/dist`]);
      const tarball = built.stdout.trim().split("\n").at(-1)!;
      assert.equal(tarball, `${dir}/dist/skiff-${SKIFF_VERSION}-linux-amd64.tar.gz`);

      await Deno.mkdir(`${dir}/unpacked`);
      await run("tar", ["-xzf", tarball, "-C", `${dir}/unpacked`]);
      const release = `${dir}/unpacked/skiff-${SKIFF_VERSION}`;
      const launcher = `${release}/bin/skiff`;

      await t.step("bin/skiff version, with an empty environment", async () => {
        const { stdout } = await run(launcher, ["version"], CLEAN_ENV);
        assert.match(stdout, new RegExp(`^skiff ${SKIFF_VERSION.replaceAll(".", "\\.")}\n`));
        assert.match(stdout, /deno 2\.9\./);
      });

      await t.step(
        "bin/skiff runs the bundle with the daemon's flags and environment",
        async () => {
          const text = await Deno.readTextFile(launcher);
          assert.ok(text.includes(` ${DAEMON_RUN_FLAGS.join(" ")} `), text);
          for (const [name, value] of Object.entries(DAEMON_ENV)) {
            assert.match(text, new RegExp(`^export .*\\b${name}=${value}\\b`, "m"), text);
          }
          // …and the bundle built from the packaged sources (scripts/bundle.ts), not main.ts.
          assert.ok(text.includes(`"$HERE/app/bundle/main.js" "$@"`), text);
          await Deno.stat(`${release}/app/bundle/main.js`);
          await Deno.stat(`${release}/app/bundle/api.proto`);
          await Deno.stat(`${release}/app/bundle/dist/index.html`);
        },
      );

      await t.step("bin/skiff serve under unshare --net answers Version", async () => {
        const state = `${dir}/state`;
        const socket = `${state}/skiff.sock`;
        const config = `${dir}/config.toml`;
        await Deno.writeTextFile(
          config,
          [
            `root_dir = "${dir}/root-data"`,
            `state_dir = "${state}"`,
            `socket = "${socket}"`,
            `[streaming]`,
            `address = "127.0.0.1:0"`,
            `[admin]`,
            `address = "127.0.0.1:0"`,
            `[network]`,
            `cni_conf_dir = "${dir}/cni"`,
          ].join("\n") + "\n",
        );
        // A new network namespace holds only a loopback, brought up for the admin and
        // streaming listeners; nothing outside this machine is reachable.
        const child = new Deno.Command("unshare", {
          args: [
            "--net",
            "--",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" "$@"',
            launcher,
            "serve",
            "--config",
            config,
          ],
          env: CLEAN_ENV,
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const output = Promise.all([
          new Response(child.stdout).text(),
          new Response(child.stderr).text(),
        ]);
        const client = new CriClient(socket);
        try {
          const deadline = Date.now() + 30_000;
          let version;
          while (!version && Date.now() < deadline) {
            try {
              version = await client.call("Version", {}, { timeoutMs: 1000 });
            } catch {
              await new Promise((r) => setTimeout(r, 200));
            }
          }
          assert.ok(
            version,
            `no Version from the release within 30 s:\n${
              (await Promise.race([output, Promise.resolve(["(running)"])])).join("\n")
            }`,
          );
          assert.equal(version.runtime_name, "skiff");
          assert.equal(version.runtime_version, SKIFF_VERSION);
          // The process really is in a namespace with no interface but loopback.
          const devs = await Deno.readTextFile(`/proc/${child.pid}/net/dev`);
          const ifaces = devs.split("\n").slice(2).map((l) => l.split(":")[0].trim()).filter(
            Boolean,
          );
          assert.deepStrictEqual(ifaces, ["lo"]);
        } finally {
          client.close();
          try {
            child.kill("SIGTERM");
          } catch {
            // already gone
          }
          const status = await child.status;
          const [, stderr] = await output;
          assert.equal(status.code, 0, stderr);
        }
      });

      const root = `${dir}/install-root`;
      const install = (...extra: string[]) => run(`${release}/install`, ["--root", root, ...extra]);
      const uninstall = (...extra: string[]) =>
        run(`${release}/uninstall`, ["--root", root, ...extra]);

      await t.step("install into --root: release, symlink, config, unit", async () => {
        const { stderr } = await install("--release", tarball);
        if (/systemd-analyze not available/.test(stderr)) {
          console.error("\n!!! systemd-analyze is not installed: skiff.service NOT verified !!!\n");
        } else {
          assert.match(stderr, /systemd-analyze verify: .*skiff\.service is valid/);
        }
        assert.equal(await Deno.readLink(`${root}/opt/skiff/current`), `releases/${SKIFF_VERSION}`);
        assert.equal(
          await Deno.readLink(`${root}/usr/local/bin/skiff`),
          "/opt/skiff/current/bin/skiff",
        );
        const installed = `${root}/opt/skiff/current/bin/skiff`;
        assert.match((await run(installed, ["version"], CLEAN_ENV)).stdout, /^skiff /);
        const cfgText = await Deno.readTextFile(`${root}/etc/skiff/config.toml`);
        assert.deepStrictEqual(parseConfig(cfgText), defaultConfig());
        assert.equal((await Deno.stat(`${root}/etc/skiff/config.toml`)).mode! & 0o777, 0o600);
        const unit = await Deno.readTextFile(`${root}/etc/systemd/system/skiff.service`);
        for (
          const line of [
            "ExecStart=/opt/skiff/current/bin/skiff serve --config /etc/skiff/config.toml",
            "KillMode=process",
            "Delegate=yes",
            "LimitNOFILE=1048576",
            "Restart=always",
            "ExecReload=/bin/kill -HUP $MAINPID",
          ]
        ) assert.ok(unit.split("\n").includes(line), `unit has ${line}`);
        assert.doesNotMatch(unit, /@[A-Z]+@/);
      });

      await t.step("reinstall keeps an edited config", async () => {
        const cfg = `${root}/etc/skiff/config.toml`;
        await Deno.writeTextFile(cfg, `log_level = "debug"\n`);
        await install("--release", release);
        assert.equal(await Deno.readTextFile(cfg), `log_level = "debug"\n`);
      });

      await t.step("uninstall removes Skiff and keeps config and containers' data", async () => {
        const data = `${root}/var/lib/skiff/containers/c1`;
        await Deno.mkdir(data, { recursive: true });
        await Deno.writeTextFile(`${data}/state.json`, "{}");
        await uninstall();
        for (
          const gone of [
            `${root}/opt/skiff`,
            `${root}/usr/local/bin/skiff`,
            `${root}/etc/systemd/system/skiff.service`,
          ]
        ) await assert.rejects(Deno.lstat(gone), Deno.errors.NotFound, gone);
        assert.equal(await Deno.readTextFile(`${data}/state.json`), "{}");
        assert.ok((await Deno.stat(`${root}/etc/skiff/config.toml`)).isFile);
      });

      await t.step("uninstall --purge removes config and data too", async () => {
        await install("--release", release);
        await uninstall("--purge");
        for (const gone of [`${root}/etc/skiff`, `${root}/var/lib/skiff`, `${root}/opt/skiff`]) {
          await assert.rejects(Deno.lstat(gone), Deno.errors.NotFound, gone);
        }
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
