/**
 * WebSocket exec through the admin API over a real socket: the admin server asks the Exec
 * handler for a streaming URL and relays v5.channel.k8s.io frames to it. The streaming
 * server here is a small stand-in peer speaking the same framing (the real one is tested by
 * its owner); the client is the CLI's own remote-command client.
 */
import { assertEquals, assertStringIncludes } from "./assert.ts";
import { createAdminApp } from "../../admin/app.ts";
import { WS_TOKEN_PROTOCOL_PREFIX } from "../../admin/mod.ts";
import type { AuditEntry } from "../../admin/mod.ts";
import { runRemoteCommand } from "../../cli/remote.ts";
import { MetricsRegistry } from "../../core/metrics.ts";

const TOKEN = "ws-test-token";

function tokenProtocol(t: string): string {
  return WS_TOKEN_PROTOCOL_PREFIX +
    btoa(t).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A stand-in streaming server: echoes stdin to stdout; `exit N` ends with exit code N. */
function fakeStreamingServer() {
  const resizes: string[] = [];
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    (req) => {
      const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) =>
        s.trim()
      );
      const protocol = ["v5.channel.k8s.io", "v4.channel.k8s.io"].find((p) => offered.includes(p));
      if (!protocol) return new Response("no protocol", { status: 400 });
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol });
      socket.binaryType = "arraybuffer";
      const send = (ch: number, text: string) => {
        const b = new TextEncoder().encode(text);
        const f = new Uint8Array(b.length + 1);
        f[0] = ch;
        f.set(b, 1);
        socket.send(f);
      };
      socket.onmessage = (m) => {
        const d = new Uint8Array(m.data as ArrayBuffer);
        const text = new TextDecoder().decode(d.subarray(1));
        if (d[0] === 4) resizes.push(text);
        if (d[0] === 0) {
          const exit = /^exit (\d+)/.exec(text);
          if (exit) {
            send(
              3,
              JSON.stringify(
                Number(exit[1]) === 0 ? { status: "Success" } : {
                  status: "Failure",
                  reason: "NonZeroExitCode",
                  details: { causes: [{ reason: "ExitCode", message: exit[1] }] },
                },
              ),
            );
            socket.close(1000);
          } else send(1, text);
        }
        if (d[0] === 255) {
          send(3, JSON.stringify({ status: "Success" }));
          socket.close(1000);
        }
      };
      return response;
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  return {
    port,
    resizes,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

Deno.test("admin: WebSocket exec relays v5.channel.k8s.io frames and is audited", async () => {
  const upstream = fakeStreamingServer();
  const audit: AuditEntry[] = [];
  const execRequests: unknown[] = [];
  const app = createAdminApp({
    metrics: new MetricsRegistry(),
    token: TOKEN,
    metricsRequireToken: false,
    ready: () => ({ ready: true, checks: {} }),
    audit: { record: async (e) => void audit.push(e) },
    handlers: {
      Exec: async (req) => {
        execRequests.push(req);
        return { url: `http://127.0.0.1:${upstream.port}/exec/one-time-token` };
      },
    },
  });
  const ac = new AbortController();
  const admin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    app.fetch,
  );
  const base = `http://127.0.0.1:${(admin.addr as Deno.NetAddr).port}`;
  try {
    const url = `${base}/api/v1/containers/c1/exec?command=sh&command=-c&command=cat&stdin=1&tty=1`;
    let out = "";
    const stdin = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("hi\n"));
        c.close();
      },
    });
    const sizes = async function* () {
      yield { width: 120, height: 40 };
    };
    const code = await runRemoteCommand(url, {
      stdin,
      stdout: (b) => void (out += new TextDecoder().decode(b)),
      stderr: () => {},
      resizes: sizes(),
      extraProtocols: [tokenProtocol(TOKEN)],
    });
    assertEquals([code, out], [0, "hi\n"]);
    assertEquals(upstream.resizes, ['{"Width":120,"Height":40}']);
    assertEquals(execRequests.length, 1);
    const req = execRequests[0] as { cmd: string[]; tty: boolean; stdin: boolean; stderr: boolean };
    assertEquals([req.cmd, req.tty, req.stdin, req.stderr], [
      ["sh", "-c", "cat"],
      true,
      true,
      false,
    ]);
    assertEquals([audit[0].action, audit[0].target, audit[0].command], ["exec", "c1", [
      "sh",
      "-c",
      "cat",
    ]]);

    // A non-zero exit travels back as the Status on the error channel.
    const failing = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode("exit 3"));
      },
    });
    const code3 = await runRemoteCommand(`${base}/api/v1/containers/c1/exec?command=sh&stdin=1`, {
      stdin: failing,
      stdout: () => {},
      stderr: () => {},
      extraProtocols: [tokenProtocol(TOKEN)],
    });
    assertEquals(code3, 3);

    // Without the token the upgrade is refused.
    let refused = "";
    try {
      await runRemoteCommand(url, { stdout: () => {}, stderr: () => {} });
    } catch (err) {
      refused = String(err);
    }
    assertStringIncludes(refused, "cannot open");
    assertEquals(execRequests.length, 2);

    // A plain GET gets a problem explaining the protocol.
    const plain = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    assertEquals(plain.status, 400);
    assertStringIncludes((await plain.json()).detail, "WebSocket");
  } finally {
    ac.abort();
    await admin.finished;
    await upstream.close();
  }
});

Deno.test("admin: WebSocket port-forward asks PortForward and relays to ?port= upstream", async () => {
  const seen: { url: string; protocol: string; frames: number[][] } = {
    url: "",
    protocol: "",
    frames: [],
  };
  const upAc = new AbortController();
  const upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: upAc.signal, onListen() {} },
    (req) => {
      seen.url = req.url;
      const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",")
        .map((s) => s.trim());
      const protocol = offered.includes("v4.channel.k8s.io") ? "v4.channel.k8s.io" : "";
      seen.protocol = protocol;
      const { socket, response } = Deno.upgradeWebSocket(req, { protocol });
      socket.binaryType = "arraybuffer";
      // The peer speaks first (as port-forward does with its port prefix): 8080, LE.
      socket.onopen = () => socket.send(new Uint8Array([0, 0x90, 0x1f]));
      socket.onmessage = (m) => {
        const d = new Uint8Array(m.data as ArrayBuffer);
        seen.frames.push([...d]);
        socket.send(new Uint8Array([0, ...d.subarray(1)]));
      };
      return response;
    },
  );
  const pfRequests: unknown[] = [];
  const app = createAdminApp({
    metrics: new MetricsRegistry(),
    token: TOKEN,
    metricsRequireToken: false,
    ready: () => ({ ready: true, checks: {} }),
    handlers: {
      PortForward: async (req) => {
        pfRequests.push(req);
        return { url: `http://127.0.0.1:${(upstream.addr as Deno.NetAddr).port}/pf/tok` };
      },
    },
  });
  const ac = new AbortController();
  const admin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    app.fetch,
  );
  try {
    const port = (admin.addr as Deno.NetAddr).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/api/v1/pods/p1/portforward?ports=8080`, [
      "v4.channel.k8s.io",
      tokenProtocol(TOKEN),
    ]);
    ws.binaryType = "arraybuffer";
    const got: number[][] = [];
    const twoFrames = Promise.withResolvers<void>();
    ws.onmessage = (m) => {
      got.push([...new Uint8Array(m.data as ArrayBuffer)]);
      if (got.length === 1) ws.send(new Uint8Array([0, 104, 105])); // "hi" on the data channel
      if (got.length === 2) twoFrames.resolve();
    };
    await twoFrames.promise;
    ws.close();
    assertEquals(ws.protocol, "v4.channel.k8s.io");
    assertEquals(got, [[0, 0x90, 0x1f], [0, 104, 105]]);
    assertEquals(seen.frames, [[0, 104, 105]]);
    assertEquals(new URL(seen.url).searchParams.getAll("port"), ["8080"]);
    assertEquals((pfRequests[0] as { pod_sandbox_id: string; port: number[] }).port, [8080]);
  } finally {
    ac.abort();
    await admin.finished;
    upAc.abort();
    await upstream.finished;
  }
});
