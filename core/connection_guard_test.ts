import assert from "node:assert/strict";
import * as http from "node:http";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { ConnectionGuard } from "./connection_guard.ts";
import { logger } from "./log.ts";

async function withGuardedServer(
  maxPending: number,
  headerTimeoutMs: number,
  fn: (port: number, guard: ConnectionGuard) => Promise<void>,
) {
  const guard = new ConnectionGuard({
    name: "test",
    maxPending,
    headerTimeoutMs,
    log: logger("t"),
  });
  const server = http.createServer((req, res) => {
    guard.admit(req.socket);
    res.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  guard.attach(server);
  try {
    await fn((server.address() as AddressInfo).port, guard);
  } finally {
    guard.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

function idle(port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    socket.on("error", () => {});
    socket.once("connect", () => resolve({ socket, closed }));
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check());
}

Deno.test("ConnectionGuard: past the cap, new idle connections are closed at once", async () => {
  await withGuardedServer(3, 60_000, async (port, guard) => {
    const held = [await idle(port), await idle(port), await idle(port)];
    await until(() => guard.pending === 3);
    const extra = await idle(port);
    await extra.closed;
    assert.equal(guard.refused, 1);
    // One idle connection goes: a client with a request fits, and once its request is in
    // its connection no longer counts against the cap.
    held.pop()!.socket.destroy();
    await until(() => guard.pending === 2);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(await res.text(), "ok");
    assert.equal(guard.pending, 2);
    for (const h of held) h.socket.destroy();
    await until(() => guard.pending === 0);
  });
});

Deno.test("ConnectionGuard: a connection without a request in time is closed", async () => {
  await withGuardedServer(10, 100, async (port, guard) => {
    const c = await idle(port);
    await c.closed;
    assert.equal(guard.timedOut, 1);
    assert.equal(guard.pending, 0);
  });
});
