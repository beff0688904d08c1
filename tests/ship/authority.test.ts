/**
 * Old kubelets' `:authority`: a real Skiff process, grpc-js and grpc-go clients sending the
 * socket path (as kubelet/crictl < 1.30 do) or `localhost`. Skiff serves HTTP/2 itself and
 * accepts any `:authority` (the `compat_authority_front` key is kept and has no effect).
 */
import assert from "node:assert/strict";
import { CriCallError, CriClient } from "../../cri/client.ts";
import { TestSkiff } from "../helpers/skiff.ts";
import { buildGrpcGoClient, grpcGoMissing, runGrpcGoClient } from "../helpers/go/grpcclient.ts";

const OLD_AUTHORITY = "/run/skiff/skiff.sock";

async function withSkiff(front: boolean, fn: (s: TestSkiff) => Promise<void>): Promise<void> {
  const s = await TestSkiff.create();
  try {
    // Top-level key: it must come before the generated file's [sections].
    await Deno.writeTextFile(
      s.configPath,
      `compat_authority_front = ${front}\n${s.configToml()}`,
    );
    await s.start();
    try {
      await fn(s);
    } catch (err) {
      console.error(`--- skiff log ---\n${await s.log()}`);
      throw err;
    }
    assert.equal(await s.stop(), 0);
    await assert.rejects(Deno.lstat(s.socket), Deno.errors.NotFound, "socket removed at stop");
  } finally {
    await s.dispose();
  }
}

Deno.test("authority: grpc-js with the socket path as :authority gets Version and Status", async () => {
  await withSkiff(true, async (s) => {
    assert.equal((await Deno.lstat(s.socket)).mode! & 0o777, 0o660);
    const old = new CriClient(s.socket, { "grpc.default_authority": OLD_AUTHORITY });
    try {
      // Many calls on one connection: the client's HPACK table fills up and is referenced.
      for (let i = 0; i < 20; i++) {
        assert.equal((await old.call("Version", {})).runtime_name, "skiff");
        const st = await old.call("Status", { verbose: i % 2 === 0 });
        assert.ok(st.status?.conditions?.some((c) => c.type === "RuntimeReady"));
      }
      // Concurrent calls interleave streams on the connection.
      const many = await Promise.all(
        Array.from({ length: 50 }, () => old.call("Version", {})),
      );
      assert.ok(many.every((v) => v.runtime_api_version === "v1"));
    } finally {
      old.close();
    }
    // Normal clients are unaffected.
    assert.equal((await s.client.call("Version", {})).runtime_name, "skiff");
    const metrics = await (await fetch(s.adminUrl("/metrics"))).text();
    const m = /skiff_authority_rewrites_total(?:\{\})? (\d+)/.exec(metrics);
    assert.ok(m && Number(m[1]) >= 90, `path authorities counted in /metrics:\n${m?.[0]}`);
  });
});

Deno.test("authority: a client closing its channel after many calls leaves Skiff serving", async () => {
  // Deno 2.9's nghttp2 (the HTTP/2 server under grpc-js, before Skiff served HTTP/2 itself)
  // aborted the process on the GOAWAY that a closing client sends after ~70 calls
  // (find_stream_on_goaway_func assertion). Several rounds, because the abort was intermittent.
  await withSkiff(true, async (s) => {
    for (let round = 0; round < 3; round++) {
      const other = new CriClient(s.socket, { "grpc.default_authority": "other.host" });
      try {
        for (let i = 0; i < 20; i++) await other.call("Status", {});
        await Promise.all(Array.from({ length: 50 }, () => other.call("Version", {})));
      } finally {
        other.close();
      }
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await s.client.call("Version", {})).runtime_name, "skiff");
    }
  });
});

Deno.test("authority: SIGTERM with a client still connected stops cleanly", async () => {
  const s = await TestSkiff.create();
  const held = new CriClient(s.socket, { "grpc.default_authority": OLD_AUTHORITY });
  try {
    await s.start();
    // kubelet keeps its connection open for as long as it runs; shutdown must not wait on it.
    for (let i = 0; i < 30; i++) await held.call("Version", {});
    const exited = s.stop();
    const code = await Promise.race([
      exited,
      new Promise<string>((r) => setTimeout(() => r("still running after 20 s"), 20_000)),
    ]);
    assert.equal(code, 0, `exit: ${code}\n${await s.log()}`);
    await assert.rejects(Deno.lstat(s.socket), Deno.errors.NotFound);
  } finally {
    held.close();
    await s.dispose();
  }
});

Deno.test("authority: an old config with compat_authority_front = false loads, and old clients still work", async () => {
  await withSkiff(false, async (s) => {
    const old = new CriClient(s.socket, { "grpc.default_authority": OLD_AUTHORITY });
    try {
      assert.equal((await old.call("Version", {}, { timeoutMs: 5000 })).runtime_name, "skiff");
      const err = await old.call("ContainerStatus", { container_id: "nope" }).catch((e) => e);
      assert.ok(err instanceof CriCallError && err.codeName === "NOT_FOUND", String(err));
    } finally {
      old.close();
    }
    assert.equal((await s.client.call("Version", {})).runtime_name, "skiff");
  });
});

const goMissing = grpcGoMissing();
if (goMissing) console.error(`\n!!! SKIPPING grpc-go authority tests: missing ${goMissing} !!!\n`);

Deno.test({
  name: "authority: grpc-go client with :authority localhost and with the socket path",
  ignore: goMissing !== null,
  fn: async () => {
    const go = await buildGrpcGoClient();
    try {
      await withSkiff(true, async (s) => {
        for (const authority of ["localhost", OLD_AUTHORITY, ""]) {
          const version = await runGrpcGoClient(go, { socket: s.socket, authority, count: 5 });
          assert.equal(version.ok, true, JSON.stringify(version));
          assert.equal(version.fields?.["2"], "skiff", "runtime_name");
          assert.equal(version.fields?.["4"], "v1", "runtime_api_version");
          const status = await runGrpcGoClient(go, {
            socket: s.socket,
            authority,
            method: "/runtime.v1.RuntimeService/Status",
          });
          assert.equal(status.ok, true, JSON.stringify(status));
          assert.ok(typeof status.fields?.["1"] === "string", "RuntimeStatus present");
        }
        // grpc-go pings to estimate bandwidth as replies arrive, one ping per reply in a
        // loop: those pings must not count as a flood (they closed the connection at 50/s).
        const many = await runGrpcGoClient(go, { socket: s.socket, count: 2000 });
        assert.equal(many.ok, true, JSON.stringify(many));
        const log = await s.log();
        assert.ok(!/too many pings/.test(log), "a grpc-go client's pings ended its connection");
        const unimplemented = await runGrpcGoClient(go, {
          socket: s.socket,
          authority: OLD_AUTHORITY,
          method: "/runtime.v1.RuntimeService/NoSuchMethod",
        });
        assert.equal(unimplemented.ok, false);
        assert.equal(unimplemented.code, "Unimplemented");
      });
      await withSkiff(false, async (s) => {
        // The old key changes nothing: both authorities work.
        const fresh = await runGrpcGoClient(go, { socket: s.socket, authority: "localhost" });
        assert.equal(fresh.ok, true, JSON.stringify(fresh));
        const old = await runGrpcGoClient(go, { socket: s.socket, authority: OLD_AUTHORITY });
        assert.equal(old.ok, true, JSON.stringify(old));
      });
    } finally {
      await go.dispose();
    }
  },
});
