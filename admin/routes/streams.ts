/**
 * WebSocket exec, attach and port-forward (audited: they run commands or reach into a pod).
 * Each asks CRI for a streaming URL as kubelet does and relays frames to it (../ws.ts).
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import {
  boolQuery,
  openUpstream,
  pickProtocol,
  relay,
  RELAYED_COMMAND_PROTOCOLS,
  RELAYED_PORT_FORWARD_PROTOCOLS,
  requireUpgrade,
  type Upstream,
} from "../ws.ts";
import type { ApiDeps } from "./deps.ts";
import { audited } from "./params.ts";
import { acceptWebSocket } from "../http_server.ts";

function upgrade(c: Context, protocol: string, upstream: Upstream, log?: Logger): Response {
  return acceptWebSocket(c, protocol, (socket) => relay(socket, upstream, log));
}

/** `?ports=` as the apiserver's portforward subresource takes it; `?port=` as kubelet's leg. */
function portsParam(c: Context): number[] {
  const ports = [...(c.req.queries("ports") ?? []), ...(c.req.queries("port") ?? [])]
    .flatMap((p) => p.split(",")).map(Number);
  if (ports.length === 0 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new InvalidArgumentError("give the ports as ?ports=80 (1-65535, repeatable)");
  }
  return ports;
}

export function streamRoutes({ cri, audit, log }: ApiDeps): Hono {
  const app = new Hono();

  app.get("/containers/:id/exec", async (c) => {
    requireUpgrade(c);
    const protocol = pickProtocol(c, RELAYED_COMMAND_PROTOCOLS);
    const id = c.req.param("id");
    const cmd = c.req.queries("command") ?? [];
    if (cmd.length === 0) {
      throw new InvalidArgumentError("give the command as ?command=sh (repeat for arguments)");
    }
    const tty = boolQuery(c, "tty", false);
    const stdin = boolQuery(c, "stdin", false);
    await audit?.record(audited(c, { action: "exec", target: id, command: cmd, tty }));
    const { url } = await cri.call("Exec", {
      container_id: id,
      cmd,
      tty,
      stdin,
      stdout: boolQuery(c, "stdout", true),
      stderr: !tty && boolQuery(c, "stderr", true),
    });
    return upgrade(c, protocol, await openUpstream(url, protocol), log);
  });

  app.get("/containers/:id/attach", async (c) => {
    requireUpgrade(c);
    const protocol = pickProtocol(c, RELAYED_COMMAND_PROTOCOLS);
    const id = c.req.param("id");
    const tty = boolQuery(c, "tty", false);
    await audit?.record(audited(c, { action: "attach", target: id, tty }));
    const { url } = await cri.call("Attach", {
      container_id: id,
      tty,
      stdin: boolQuery(c, "stdin", false),
      stdout: boolQuery(c, "stdout", true),
      stderr: !tty && boolQuery(c, "stderr", true),
    });
    return upgrade(c, protocol, await openUpstream(url, protocol), log);
  });

  app.get("/pods/:id/portforward", async (c) => {
    requireUpgrade(c);
    const protocol = pickProtocol(c, RELAYED_PORT_FORWARD_PROTOCOLS);
    const id = c.req.param("id");
    const ports = portsParam(c);
    await audit?.record(audited(c, { action: "port_forward", target: id, ports }));
    const { url } = await cri.call("PortForward", { pod_sandbox_id: id, port: ports });
    // The streaming server's WebSocket port-forward takes the ports as ?port= parameters.
    const u = new URL(url);
    for (const p of ports) u.searchParams.append("port", String(p));
    return upgrade(c, protocol, await openUpstream(u.toString(), protocol), log);
  });

  return app;
}
