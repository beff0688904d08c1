import assert from "node:assert/strict";
import {
  ConfigError,
  defaultConfig,
  loadConfig,
  parseConfig,
  redactedConfig,
  renderDefaultConfig,
} from "./mod.ts";

Deno.test("config: the default file parses back to exactly the defaults", () => {
  assert.deepEqual(parseConfig(renderDefaultConfig(), "default.toml"), defaultConfig());
});

Deno.test("config: the default file documents every key", () => {
  const text = renderDefaultConfig();
  for (
    const key of [
      "root_dir",
      "state_dir",
      "socket",
      "cgroup_driver",
      "[streaming]",
      "[admin]",
      "token_file",
      "[runtime]",
      "[runtime.handlers.runc]",
      "[network]",
      "cni_conf_dir",
      "cni_bin_dirs",
      "[image]",
      "registries",
      "mirrors",
      "log_level",
      "log_format",
    ]
  ) {
    assert.ok(text.includes(key), `default file mentions ${key}`);
  }
  // Every non-blank line is a comment, a table header or a key.
  for (const line of text.split("\n")) {
    if (line === "") continue;
    assert.match(line, /^(#.*|\[[^\]]+\]|[a-z_]+ = .+)$/, line);
  }
});

Deno.test("config: documented defaults", () => {
  const c = defaultConfig();
  assert.equal(c.root_dir, "/var/lib/skiff");
  assert.equal(c.state_dir, "/run/skiff");
  assert.equal(c.socket, "/run/skiff/skiff.sock");
  assert.equal(c.streaming.address, "127.0.0.1:10010");
  assert.equal(c.admin.address, "127.0.0.1:10251");
  assert.equal(c.cgroup_driver, "cgroupfs");
  assert.equal(c.runtime.default_handler, "runc");
  assert.equal(c.runtime.handlers.runc.binary, "runc");
  assert.deepEqual(c.network.cni_bin_dirs, ["/opt/cni/bin", "/usr/lib/cni"]);
  assert.equal(c.image.max_concurrent_downloads, 3);
});

Deno.test("config: values given override defaults, others stay", () => {
  const c = parseConfig(
    `
log_level = "debug"
[image]
max_concurrent_downloads = 5
[image.registries."registry.k8s.io"]
mirrors = ["http://127.0.0.1:5000"]
skip_upstream = true
[runtime.handlers.crun]
binary = "/usr/bin/crun"
[runtime]
default_handler = "crun"
`,
    "t.toml",
  );
  assert.equal(c.log_level, "debug");
  assert.equal(c.image.max_concurrent_downloads, 5);
  assert.deepEqual(c.image.registries["registry.k8s.io"].mirrors, ["http://127.0.0.1:5000"]);
  assert.equal(c.image.registries["registry.k8s.io"].skip_upstream, true);
  assert.equal(c.image.registries["registry.k8s.io"].insecure, false);
  assert.equal(c.runtime.handlers.crun.binary, "/usr/bin/crun");
  assert.deepEqual(Object.keys(c.runtime.handlers), ["crun"]);
  assert.equal(c.state_dir, "/run/skiff");
});

function rejects(text: string, ...parts: (string | RegExp)[]) {
  assert.throws(() => parseConfig(text, "/etc/skiff/config.toml"), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `ConfigError, got ${err}`);
    for (const p of parts) {
      if (typeof p === "string") assert.ok(err.message.includes(p), `"${err.message}" has ${p}`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

Deno.test("config: bad configs fail naming the key, the file and what is allowed", () => {
  rejects(`sockett = "/x"`, "/etc/skiff/config.toml", `"sockett"`, "allowed", "socket");
  rejects(`[streaming]\nadress = "x"`, `"streaming.adress"`, "address");
  rejects(`log_level = "loud"`, `"log_level"`, `"loud"`, `"debug", "info", "warn", "error"`);
  rejects(`cgroup_driver = 3`, `"cgroup_driver"`, "cgroupfs", "systemd");
  rejects(`[image]\nmax_concurrent_downloads = 0`, "max_concurrent_downloads", ">= 1");
  rejects(`[image]\nmax_concurrent_downloads = "3"`, "max_concurrent_downloads", "integer");
  rejects(`[network]\ncni_bin_dirs = "/opt/cni/bin"`, "cni_bin_dirs", "array of strings");
  rejects(`[admin]\nmetrics_require_token = "yes"`, "metrics_require_token", "true or false");
  rejects(`[runtime.handlers.kata]\nbinry = "x"`, `"runtime.handlers.kata.binry"`, "binary");
  rejects(`[runtime]\ndefault_handler = "kata"`, `"runtime.default_handler"`, "runc");
  rejects(`[streaming]\naddress = "nowhere"`, `"streaming.address"`, "host:port");
  rejects(`root_dir = "relative/dir"`, `"root_dir"`, "absolute path");
  rejects(`[network]\nsubnet = "10.88.0.0"`, `"network.subnet"`, "CIDR");
  rejects(`streaming = 1`, `"streaming"`, "table");
  rejects(`log_level = `, "not valid TOML");
});

Deno.test("config: a missing default file means defaults; a missing named file is an error", async () => {
  await assert.rejects(loadConfig("/nonexistent/skiff.toml"), /nonexistent\/skiff.toml/);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/c.toml`, `log_format = "json"\n`);
    const { config, path } = await loadConfig(`${dir}/c.toml`);
    assert.equal(config.log_format, "json");
    assert.equal(path, `${dir}/c.toml`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config: secrets are redacted for Status(verbose)", () => {
  const c = parseConfig(`[image.registries."r.example"]\npassword = "hunter2"\nauth = "eDp5"\n`);
  const r = redactedConfig(c);
  assert.equal(r.image.registries["r.example"].password, "<redacted>");
  assert.equal(r.image.registries["r.example"].auth, "<redacted>");
  assert.equal(c.image.registries["r.example"].password, "hunter2");
});

Deno.test("config: the Config type follows the schema (enums, arrays, maps)", () => {
  const c = defaultConfig();
  // Compile-time: these assignments type-check only if the derived type is this precise.
  const level: "debug" | "info" | "warn" | "error" = c.log_level;
  const network: "" | "bridge" = c.network.default;
  const dirs: string[] = c.network.cni_bin_dirs;
  const insecure: boolean | undefined = c.image.registries["x"]?.insecure;
  const options: string[] = c.runtime.handlers.runc.options;
  assert.deepEqual([level, network, dirs.length, insecure, options], [
    "info",
    "",
    2,
    undefined,
    [],
  ]);
  // A fresh copy each time: callers may mutate theirs.
  c.network.cni_bin_dirs.push("/x");
  assert.deepEqual(defaultConfig().network.cni_bin_dirs, ["/opt/cni/bin", "/usr/lib/cni"]);
});
