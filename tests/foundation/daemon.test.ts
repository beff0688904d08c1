/** A real `skiff serve` process: CRI over its socket, admin endpoints, signals. */
import assert from "node:assert/strict";
import { skiffRunArgs, TestSkiff } from "../helpers/skiff.ts";

async function withSkiff(fn: (s: TestSkiff) => Promise<void>, opts = {}) {
  const s = await TestSkiff.create(opts);
  try {
    await s.start();
    await fn(s);
  } finally {
    await s.dispose();
  }
}

Deno.test("daemon: Version and Status over the socket", async () => {
  await withSkiff(async (s) => {
    const v = await s.client.call("Version", { version: "v1" });
    assert.equal(v.runtime_name, "skiff");
    assert.equal(v.runtime_api_version, "v1");
    assert.match(v.runtime_version, /^\d+\.\d+\.\d+/);

    const st = await s.client.call("Status", { verbose: true });
    const cond = Object.fromEntries(st.status!.conditions.map((c) => [c.type, c]));
    assert.equal(cond.RuntimeReady.status, true, cond.RuntimeReady.message);
    // No CNI config in this run's conf dir and no default network: not ready, and says why.
    assert.equal(cond.NetworkReady.status, false);
    assert.equal(cond.NetworkReady.reason, "NetworkPluginNotReady");
    assert.match(cond.NetworkReady.message, /no CNI config/);
    const config = JSON.parse(st.info.config);
    assert.equal(config.socket, s.socket);
    assert.ok(st.runtime_handlers.some((h) => h.name === "runc"));
    assert.ok(st.runtime_handlers.some((h) => h.name === ""));

    const rc = await s.client.call("RuntimeConfig", {});
    assert.equal(rc.linux?.cgroup_driver, "CGROUPFS");
    await s.client.call("UpdateRuntimeConfig", {
      runtime_config: { network_config: { pod_cidr: "10.244.1.0/24" } },
    });
    const st2 = await s.client.call("Status", { verbose: true });
    assert.deepEqual(JSON.parse(st2.info.podCIDRs), ["10.244.1.0/24"]);
    await assert.rejects(
      s.client.call("UpdateRuntimeConfig", {
        runtime_config: { network_config: { pod_cidr: "not-a-cidr" } },
      }),
      (e: Error & { codeName?: string }) => e.codeName === "INVALID_ARGUMENT",
    );
  });
});

Deno.test("daemon: NetworkReady turns true when a CNI config appears, without restart", async () => {
  await withSkiff(async (s) => {
    const ready = async () =>
      (await s.client.call("Status", {})).status!.conditions.find((c) => c.type === "NetworkReady")!
        .status;
    assert.equal(await ready(), false);
    await Deno.writeTextFile(
      `${s.cniConfDir}/10-test.conflist`,
      JSON.stringify({ cniVersion: "1.0.0", name: "t", plugins: [{ type: "loopback" }] }),
    );
    assert.equal(await ready(), true);
  });
});

Deno.test("daemon: a second Skiff on the same root dir or socket is refused with a clear message", async () => {
  await withSkiff(async (s) => {
    const serve = async (configPath: string) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: skiffRunArgs(["serve", "--config", configPath]),
        stdout: "piped",
        stderr: "piped",
      }).output();
      return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
    };
    // Same config: the root dir's lock is held.
    const same = await serve(s.configPath);
    assert.notEqual(same.code, 0);
    assert.match(same.stderr, /another Skiff is already running with root_dir/);

    // Own root and state dirs, same socket: the live socket is refused.
    const other = `${s.dir}/other`;
    await Deno.writeTextFile(
      `${s.dir}/other.toml`,
      [
        `root_dir = "${other}/root"`,
        `state_dir = "${other}/state"`,
        `socket = "${s.socket}"`,
        `[admin]`,
        `address = ""`,
        `[streaming]`,
        `address = "127.0.0.1:0"`,
      ].join("\n"),
    );
    const sock = await serve(`${s.dir}/other.toml`);
    assert.notEqual(sock.code, 0);
    assert.match(sock.stderr, /already serving on .*skiff\.sock/);

    // The first one still answers.
    assert.equal((await s.client.call("Version")).runtime_name, "skiff");
  });
});

Deno.test("daemon: SIGTERM stops gracefully, removes the socket and exits 0", async () => {
  const s = await TestSkiff.create();
  try {
    await s.start();
    const code = await s.signal("SIGTERM");
    assert.equal(code, 0);
    await assert.rejects(Deno.lstat(s.socket), Deno.errors.NotFound);
    assert.match(await s.log(), /signal received, shutting down/);
    // And it starts again on the same paths.
    await s.start();
    assert.equal((await s.client.call("Version")).runtime_name, "skiff");
    assert.equal(await s.signal("SIGINT"), 0);
  } finally {
    await s.dispose();
  }
});

Deno.test("daemon: SIGKILL leaves a stale socket that the next start replaces", async () => {
  const s = await TestSkiff.create();
  try {
    await s.start();
    await s.kill();
    assert.ok((await Deno.lstat(s.socket)).isSocket);
    await s.start();
    assert.equal((await s.client.call("Version")).runtime_name, "skiff");
  } finally {
    await s.dispose();
  }
});

Deno.test("daemon: admin endpoints, and /metrics counts CRI calls by method and code", async () => {
  await withSkiff(async (s) => {
    assert.equal(await (await fetch(s.adminUrl("/healthz"))).text(), "ok\n");
    const ready = await fetch(s.adminUrl("/readyz"));
    assert.equal(ready.status, 200, await ready.clone().text());
    assert.equal((await ready.json()).ready, true);
    const version = await (await fetch(s.adminUrl("/version"))).json();
    assert.equal(version.name, "skiff");

    const scrape = async () => await (await fetch(s.adminUrl("/metrics"))).text();
    const count = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
    const reqs = /skiff_grpc_requests_total\{method="Version",code="OK"\} (\d+)/;
    const hist = /skiff_grpc_request_duration_seconds_count\{method="Version",code="OK"\} (\d+)/;
    const inf =
      /skiff_grpc_request_duration_seconds_bucket\{method="Version",code="OK",le="\+Inf"\} (\d+)/;
    const before = await scrape();
    for (let i = 0; i < 3; i++) await s.client.call("Version");
    await s.client.call("RunPodSandbox", {}).catch(() => {});
    const metrics = await scrape();
    assert.equal(count(metrics, reqs) - count(before, reqs), 3);
    assert.equal(count(metrics, hist) - count(before, hist), 3);
    assert.equal(count(metrics, inf) - count(before, inf), 3);
    assert.ok(
      count(metrics, /skiff_grpc_requests_total\{method="RunPodSandbox",code="[A-Z_]+"\} (\d+)/) >=
        1,
    );
    assert.match(metrics, /# TYPE skiff_grpc_request_duration_seconds histogram/);

    // The token file is 0600 and guards /api.
    const st = await Deno.stat(`${s.rootDir}/admin.token`);
    assert.equal(st.mode! & 0o777, 0o600);
    const denied = await fetch(s.adminUrl("/api/v1/pods"));
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const wrong = await fetch(s.adminUrl("/api/v1/pods"), {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
  });
});

Deno.test("daemon: every RPC is logged once with method, duration and code", async () => {
  await withSkiff(async (s) => {
    await s.client.call("Version");
    await s.client.call("RemoveContainer", { container_id: "x" }).catch(() => {});
    await s.stop();
    const log = await s.log();
    const lines = log.split("\n").filter((l) => l.includes("msg=rpc"));
    const version = lines.filter((l) => l.includes("method=Version "));
    assert.ok(version.length >= 1);
    assert.equal(lines.filter((l) => l.includes("method=RemoveContainer ")).length, 1);
    for (const l of lines) assert.match(l, /method=\w+ code=[A-Z_]+ duration_ms=[\d.]+/);
  });
});

Deno.test("daemon: every descriptor of Skiff is close-on-exec, so children inherit none", async () => {
  await withSkiff(async (s) => {
    await s.client.call("Version");
    // Connections accepted after start are marked by the periodic sweep.
    await new Promise((r) => setTimeout(r, 2500));
    const O_CLOEXEC = 0o2000000;
    const open: string[] = [];
    for (const e of Deno.readDirSync(`/proc/${s.pid}/fdinfo`)) {
      if (Number(e.name) <= 2) continue;
      let info = "";
      try {
        info = Deno.readTextFileSync(`/proc/${s.pid}/fdinfo/${e.name}`);
      } catch {
        continue; // closed meanwhile
      }
      const flags = parseInt(/^flags:\s+(\d+)/m.exec(info)?.[1] ?? "0", 8);
      if (!(flags & O_CLOEXEC)) {
        let target = "";
        try {
          target = Deno.readLinkSync(`/proc/${s.pid}/fd/${e.name}`);
        } catch { /* closed meanwhile */ }
        open.push(`${e.name} -> ${target}`);
      }
    }
    assert.deepEqual(open, []);
  });
});
