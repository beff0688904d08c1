/**
 * The WebSocket relay behind exec, attach and port-forward (routes/streams.ts), framed as
 * Kubernetes' `v5.channel.k8s.io` (channel byte + payload; resize JSON on channel 4;
 * 255 = close).
 *
 * The admin server does not run commands itself: it asks the CRI handler (Exec, Attach,
 * PortForward) for a streaming URL exactly as kubelet does, opens that URL on the CRI
 * streaming server with the same subprotocol, and relays frames unchanged both ways. So
 * there is one streaming core (streaming/), and the admin API adds only the operator's
 * front: bearer token (also accepted as the `base64url.bearer.authorization.k8s.io.`
 * subprotocol, since browsers cannot set headers on WebSocket), the audit log and CORS.
 */
import type { Context } from "hono";
import { InvalidArgumentError, UnavailableError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";

/** Remote-command protocols relayed, in the server's order of preference. */
export const RELAYED_COMMAND_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
];
export const RELAYED_PORT_FORWARD_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "portforward.k8s.io",
];

const UPSTREAM_OPEN_TIMEOUT_MS = 10_000;

function offeredProtocols(c: Context): string[] {
  return (c.req.header("sec-websocket-protocol") ?? "").split(",").map((s) => s.trim())
    .filter((s) => s);
}

export function pickProtocol(c: Context, supported: string[]): string {
  const offered = offeredProtocols(c);
  const p = supported.find((s) => offered.includes(s));
  if (!p) {
    throw new InvalidArgumentError(
      `no supported WebSocket subprotocol offered (got ${JSON.stringify(offered)}); ` +
        `offer one of ${supported.join(", ")}`,
    );
  }
  return p;
}

export function requireUpgrade(c: Context): void {
  if ((c.req.header("upgrade") ?? "").toLowerCase() !== "websocket") {
    throw new InvalidArgumentError(
      "this route speaks WebSocket (v5.channel.k8s.io): send an Upgrade: websocket request",
    );
  }
}

export function boolQuery(c: Context, name: string, dflt: boolean): boolean {
  const v = c.req.query(name);
  if (v === undefined) return dflt;
  return v !== "0" && v !== "false";
}

export interface Upstream {
  ws: WebSocket;
  /** Frames that arrived before the relay took over (a peer may speak first). */
  early: (ArrayBuffer | string)[];
}

/** Opens the streaming server's URL with the chosen subprotocol. */
export async function openUpstream(url: string, protocol: string): Promise<Upstream> {
  const ws = new WebSocket(url.replace(/^http/, "ws"), [protocol]);
  ws.binaryType = "arraybuffer";
  const early: (ArrayBuffer | string)[] = [];
  ws.onmessage = (m) => early.push(m.data);
  const opened = await new Promise<boolean>((resolve) => {
    const t = setTimeout(() => resolve(false), UPSTREAM_OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(t);
      resolve(true);
    };
    ws.onerror = ws.onclose = () => {
      clearTimeout(t);
      resolve(false);
    };
  });
  if (!opened || ws.protocol !== protocol) {
    try {
      ws.close();
    } catch {
      // never opened
    }
    throw new UnavailableError(
      `the CRI streaming server did not accept the stream at ${url} (${protocol}); ` +
        "check that Skiff's streaming server is running (streaming.address)",
    );
  }
  return { ws, early };
}

/** Relays frames between the client and the streaming server until either side closes. */
export function relay(client: WebSocket, up: Upstream, log?: Logger): void {
  const upstream = up.ws;
  client.binaryType = "arraybuffer";
  const pending: (ArrayBuffer | string)[] = up.early;
  let clientOpen = false;
  const closeBoth = (code = 1000, reason = "") => {
    for (const ws of [client, upstream]) {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
        try {
          ws.close(code, reason);
        } catch {
          ws.close();
        }
      }
    }
  };
  client.onopen = () => {
    clientOpen = true;
    for (const m of pending.splice(0)) client.send(m);
  };
  upstream.onmessage = (m) => {
    if (clientOpen) client.send(m.data);
    else pending.push(m.data);
  };
  client.onmessage = (m) => {
    if (upstream.readyState === WebSocket.OPEN) upstream.send(m.data);
  };
  upstream.onclose = (e) => {
    // Let the client's opening finish, so it still receives what was buffered.
    if (!clientOpen && client.readyState === WebSocket.CONNECTING) {
      client.onopen = () => {
        for (const m of pending.splice(0)) client.send(m);
        client.close(1000);
      };
      return;
    }
    closeBoth(e.code === 1005 || e.code === 1006 ? 1000 : e.code, e.reason);
  };
  client.onclose = () => closeBoth();
  // A socket accepted by the admin listener's `ws` is open already (Deno's opens later).
  if (client.readyState === WebSocket.OPEN) client.onopen?.(new Event("open"));
  // The upstream may have finished before the relay took over (a short command).
  if (upstream.readyState === WebSocket.CLOSED || upstream.readyState === WebSocket.CLOSING) {
    upstream.onclose?.(new CloseEvent("close", { code: 1000 }));
  }
  client.onerror = upstream.onerror = (e) => {
    log?.debug("admin stream relay error", { error: (e as ErrorEvent).message ?? "" });
  };
}
