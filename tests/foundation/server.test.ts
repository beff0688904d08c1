/**
 * The CRI server over a real unix socket: routing, UNIMPLEMENTED naming the RPC, errors and
 * panics as statuses, stale and live sockets, graceful shutdown.
 */
import assert from "node:assert/strict";
import { CriCallError, CriClient } from "../../cri/client.ts";
import { CriServer } from "../../cri/server.ts";
import type { CriHandlers } from "../../cri/handler.ts";
import { ImageServiceMethods, RuntimeServiceMethods } from "../../cri/types.ts";
import { configureLogging, logger } from "../../core/log.ts";
import { MetricsRegistry } from "../../core/metrics.ts";
import { NotFoundError } from "../../core/errors.ts";
import { makeTempDir } from "../helpers/env.ts";

configureLogging({ level: "error" });

async function withServer(
  handlers: CriHandlers,
  fn: (client: CriClient, server: CriServer, dir: string) => Promise<void>,
) {
  const dir = await makeTempDir("srv");
  const server = new CriServer({
    socket: `${dir}/run/skiff.sock`,
    handlers,
    metrics: new MetricsRegistry(),
    log: logger("test"),
  });
  await server.start();
  const client = new CriClient(server.socket);
  try {
    await fn(client, server, dir);
  } finally {
    client.close();
    await server.stop(0);
    await Deno.remove(dir, { recursive: true });
  }
}

async function codeOf(p: Promise<unknown>): Promise<CriCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CriCallError, String(err));
    return err;
  }
  throw new Error("call succeeded, expected an error");
}

Deno.test("server: every RPC without a handler answers UNIMPLEMENTED naming it", async () => {
  await withServer({}, async (client) => {
    const all = [...RuntimeServiceMethods, ...ImageServiceMethods];
    assert.equal(all.length, 41);
    for (const method of all) {
      let err: CriCallError;
      if (method.startsWith("Stream") || method === "GetContainerEvents") {
        // The cast only picks the message types; the method name sent is the real one.
        const stream = client.stream(method as "StreamImages");
        err = await codeOf((async () => {
          for await (const _ of stream) { /* drain */ }
        })());
      } else {
        err = await codeOf(client.call(method as "Version"));
      }
      assert.equal(err.codeName, "UNIMPLEMENTED", method);
      assert.ok(err.details.includes(method), `${method}: ${err.details}`);
    }
  });
});

Deno.test("server: socket is created with mode 0660 and parent dirs", async () => {
  await withServer({}, async (_client, server) => {
    const st = await Deno.lstat(server.socket);
    assert.ok(st.isSocket);
    assert.equal(st.mode! & 0o777, 0o660);
  });
});

Deno.test("server: domain errors become their gRPC codes; panics become INTERNAL", async () => {
  let calls = 0;
  await withServer({
    ContainerStatus: async (req) => {
      calls++;
      throw new NotFoundError(`container "${req.container_id}" not found`);
    },
    PodSandboxStatus: async () => {
      calls++;
      throw new TypeError("cannot read properties of undefined");
    },
    ImageStatus: () => {
      calls++;
      // A synchronous throw, not a rejected promise.
      throw "raw string thrown";
    },
    Version: async () => ({ runtime_name: "x" }),
  }, async (client) => {
    const nf = await codeOf(client.call("ContainerStatus", { container_id: "abc" }));
    assert.equal(nf.codeName, "NOT_FOUND");
    assert.equal(nf.details, 'container "abc" not found');
    const panic = await codeOf(client.call("PodSandboxStatus", { pod_sandbox_id: "x" }));
    assert.equal(panic.codeName, "INTERNAL");
    assert.match(panic.details, /cannot read properties/);
    const raw = await codeOf(client.call("ImageStatus", {}));
    assert.equal(raw.codeName, "INTERNAL");
    assert.equal(raw.details, "raw string thrown");
    // The server is still there.
    assert.equal((await client.call("Version")).runtime_name, "x");
    assert.equal(calls, 3);
  });
});

Deno.test("server: a stale socket file is replaced; a live one is refused", async () => {
  await withServer({}, async (_client, server, dir) => {
    const other = new CriServer({
      socket: server.socket,
      handlers: {},
      metrics: new MetricsRegistry(),
      log: logger("test"),
    });
    await assert.rejects(other.start(), /already serving on .*skiff.sock/);
    // The refused server did not remove the live socket.
    assert.ok((await Deno.lstat(server.socket)).isSocket);

    // A socket file nobody listens on (left by a killed process) is replaced.
    const stale = `${dir}/stale.sock`;
    const py = new Deno.Command("python3", {
      args: [
        "-c",
        "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])",
        stale,
      ],
    });
    assert.equal((await py.output()).code, 0);
    assert.ok((await Deno.lstat(stale)).isSocket);
    const fresh = new CriServer({
      socket: stale,
      handlers: { Version: async () => ({ runtime_name: "fresh" }) },
      metrics: new MetricsRegistry(),
      log: logger("test"),
    });
    await fresh.start();
    const c = new CriClient(stale);
    try {
      assert.equal((await c.call("Version")).runtime_name, "fresh");
    } finally {
      c.close();
      await fresh.stop(0);
    }
  });
});

Deno.test("server: a path that is not a socket is never replaced", async () => {
  const dir = await makeTempDir("srv");
  try {
    await Deno.writeTextFile(`${dir}/file.sock`, "precious");
    const s = new CriServer({
      socket: `${dir}/file.sock`,
      handlers: {},
      metrics: new MetricsRegistry(),
      log: logger("test"),
    });
    await assert.rejects(s.start(), /not a socket/);
    assert.equal(await Deno.readTextFile(`${dir}/file.sock`), "precious");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server: stop lets an in-flight call finish within the grace period, then removes the socket", async () => {
  const release = Promise.withResolvers<void>();
  const started = Promise.withResolvers<void>();
  await withServer({
    Version: async () => {
      started.resolve();
      await release.promise;
      return { runtime_name: "finished" };
    },
  }, async (client, server) => {
    const inflight = client.call("Version");
    await started.promise;
    const stopping = server.stop(5000);
    setTimeout(() => release.resolve(), 200);
    assert.equal((await inflight).runtime_name, "finished");
    await stopping;
    await assert.rejects(Deno.lstat(server.socket), Deno.errors.NotFound);
  });
});

Deno.test("server: calls still running after the grace period are cancelled", async () => {
  let sawAbort = false;
  await withServer({
    Version: async (_req, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
      sawAbort = true;
      return {};
    },
  }, async (client, server) => {
    const inflight = client.call("Version").catch((e) => e);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await server.stop(300);
    assert.ok(Date.now() - t0 < 3000);
    const result = await inflight;
    assert.ok(result instanceof CriCallError, String(result));
    assert.ok(sawAbort);
  });
});

Deno.test("server: a client deadline aborts the handler's signal", async () => {
  const aborted = Promise.withResolvers<string>();
  await withServer({
    Version: async (_req, ctx) => {
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener("abort", () => {
          aborted.resolve(String(ctx.signal.reason));
          resolve();
        })
      );
      return {};
    },
  }, async (client) => {
    const err = await codeOf(client.call("Version", {}, { timeoutMs: 200 }));
    assert.equal(err.codeName, "DEADLINE_EXCEEDED");
    assert.match(await aborted.promise, /deadline|cancel/);
  });
});

Deno.test("server: streaming handlers send messages in order and end", async () => {
  await withServer({
    StreamImages: async (_req, _ctx, send) => {
      for (let i = 0; i < 3; i++) await send({ images: [{ id: `sha256:${i}` }] });
    },
  }, async (client) => {
    const ids: string[] = [];
    for await (const msg of client.stream("StreamImages", {})) ids.push(msg.images[0].id);
    assert.deepEqual(ids, ["sha256:0", "sha256:1", "sha256:2"]);
  });
});
