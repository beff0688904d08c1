/**
 * One gRPC call per stream, driven frame by frame: routing, HTTP-level refusals, the reply
 * in one write, statuses, deadlines and cancellation.
 */
import assert from "node:assert/strict";
import { NotFoundError } from "../core/errors.ts";
import { logger } from "../core/log.ts";
import { MetricsRegistry } from "../core/metrics.ts";
import { CallDispatcher } from "./dispatch.ts";
import type { CriHandlers } from "./handler.ts";
import { encodeFrame, ErrorCode, Flag, FrameType, uint32Payload } from "./http2/frames.ts";
import { DEFAULT_LIMITS } from "./http2/connection.ts";
import { Peer, type SentFrame } from "./http2/test_peer.ts";
import { loadCriRoot, SERVICE_NAMES, serviceRpcs } from "./proto.ts";
import { frameMessage } from "./grpc/wire.ts";

function setup(handlers: CriHandlers) {
  const root = loadCriRoot();
  const dispatcher = new CallDispatcher({
    handlers,
    rpcs: SERVICE_NAMES.flatMap((s) => serviceRpcs(root, s)),
    metrics: new MetricsRegistry(),
    log: logger("test"),
    maxMessageBytes: 1024,
  });
  const peer = new Peer(DEFAULT_LIMITS, (s) => dispatcher.serve(s));
  peer.open();
  return { peer, dispatcher };
}

const RUNTIME = "/runtime.v1.RuntimeService";
const empty = () =>
  encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, frameMessage(new Uint8Array(0)));

/** The header fields of every header block sent on stream 1. */
function blocks(p: Peer, frames: SentFrame[]): Record<string, string>[] {
  return frames.filter((f) => f.type === FrameType.HEADERS && f.streamId === 1)
    .map((f) => Object.fromEntries(p.decode(f)));
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
}

Deno.test("dispatch: a unary reply leaves as headers, message and trailers in one write", async () => {
  const { peer } = setup({ Version: () => Promise.resolve({ runtime_name: "skiff" }) });
  await peer.received();
  peer.send(peer.headers(1, `${RUNTIME}/Version`), empty());
  await settle();
  assert.equal(peer.writes.length, 1, "one write");
  const out = await peer.received();
  assert.deepStrictEqual(out.map((f) => f.type), [
    FrameType.HEADERS,
    FrameType.DATA,
    FrameType.HEADERS,
  ]);
  const [head, trailers] = blocks(peer, out);
  assert.equal(head[":status"], "200");
  assert.equal(trailers["grpc-status"], "0");
  assert.match(new TextDecoder().decode(out[1].payload), /skiff/);
});

Deno.test("dispatch: unknown services and methods, wrong method and content type", async () => {
  const { peer } = setup({});
  await peer.received();
  const cases: [string, Record<string, string>][] = [
    [`${RUNTIME}/NoSuch`, {
      "grpc-status": "12",
      "grpc-message": "unknown method NoSuch for service runtime.v1.RuntimeService",
    }],
    ["/other.Service/X", { "grpc-status": "12", "grpc-message": "unknown service other.Service" }],
    [`${RUNTIME}/Version`, {
      "grpc-status": "12",
      "grpc-message": "Version is not implemented by Skiff yet",
    }],
  ];
  let id = 1;
  for (const [path, want] of cases) {
    peer.send(
      peer.headers(id, path),
      encodeFrame(FrameType.DATA, Flag.END_STREAM, id, frameMessage(new Uint8Array(0))),
    );
    await settle();
    const out = await peer.received();
    const h = out.find((f) => f.type === FrameType.HEADERS && f.streamId === id)!;
    const fields = Object.fromEntries(peer.decode(h));
    for (const [k, v] of Object.entries(want)) assert.equal(fields[k], v, path);
    id += 2;
  }
});

Deno.test("dispatch: handler errors become their status; oversized messages RESOURCE_EXHAUSTED", async () => {
  const { peer } = setup({
    ContainerStatus: () => Promise.reject(new NotFoundError('container "x" not found')),
  });
  await peer.received();
  peer.send(peer.headers(1, `${RUNTIME}/ContainerStatus`), empty());
  await settle();
  let [reply] = blocks(peer, await peer.received());
  assert.equal(reply["grpc-status"], "5");
  assert.equal(reply["grpc-message"], 'container "x" not found');
  // 1 KiB is this dispatcher's limit: a 2 KiB message is refused on its prefix.
  peer.send(
    peer.headers(3, `${RUNTIME}/ContainerStatus`),
    encodeFrame(FrameType.DATA, 0, 3, new Uint8Array([0, 0, 0, 8, 0])),
  );
  await settle();
  const out = await peer.received();
  reply = Object.fromEntries(peer.decode(out.find((f) => f.type === FrameType.HEADERS)!));
  assert.equal(reply["grpc-status"], "8");
  assert.ok(
    out.some((f) => f.type === FrameType.RST_STREAM),
    "the client is asked to stop sending",
  );
});

Deno.test("dispatch: grpc-timeout aborts the handler; a reset before the request ends the call", async () => {
  let aborted: unknown;
  const { peer, dispatcher } = setup({
    Version: (_req, ctx) =>
      new Promise((_res, rej) =>
        ctx.signal.addEventListener("abort", () => {
          aborted = ctx.signal.reason;
          rej(ctx.signal.reason);
        })
      ),
  });
  await peer.received();
  const block = peer.encoderFor([
    [":method", "POST"],
    [":path", `${RUNTIME}/Version`],
    ["content-type", "application/grpc"],
    ["grpc-timeout", "20m"],
  ]);
  peer.send(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, 1, block), empty());
  await new Promise((r) => setTimeout(r, 60));
  assert.equal((aborted as Error)?.name, "DeadlineExceededError");
  const [reply] = blocks(peer, await peer.received());
  assert.equal(reply["grpc-status"], "4");
  // Stream 3 never completes its request; the client resets it: the call ends at once.
  peer.send(peer.headers(3, `${RUNTIME}/Version`));
  assert.equal(dispatcher.inflight.size, 1);
  peer.send(encodeFrame(FrameType.RST_STREAM, 0, 3, uint32Payload(ErrorCode.CANCEL)));
  assert.equal(dispatcher.inflight.size, 0);
  assert.equal(peer.conn.activeStreams, 0);
});

Deno.test("dispatch: reads read with a burst of state changes reply before those start", async () => {
  const started: string[] = [];
  const { peer } = setup({
    RunPodSandbox: () => {
      started.push("RunPodSandbox");
      return Promise.resolve({ pod_sandbox_id: "p" });
    },
    RemoveContainer: () => {
      started.push("RemoveContainer");
      return Promise.resolve({});
    },
    ListContainers: () => {
      started.push("ListContainers");
      return Promise.resolve({ containers: [] });
    },
  });
  await peer.received();
  const data = (id: number) =>
    encodeFrame(FrameType.DATA, Flag.END_STREAM, id, frameMessage(new Uint8Array(0)));
  // One read from the socket: two state changes, then a read.
  peer.send(
    peer.headers(1, `${RUNTIME}/RunPodSandbox`),
    data(1),
    peer.headers(3, `${RUNTIME}/RemoveContainer`),
    data(3),
    peer.headers(5, `${RUNTIME}/ListContainers`),
    data(5),
  );
  for (let i = 0; i < 20; i++) await Promise.resolve(); // microtasks only: no turn yet
  assert.deepStrictEqual(started, ["ListContainers"], "the read ran first, alone");
  assert.equal(peer.writes.length, 1, "its reply left before any state change started");
  // Then the state changes, in arrival order, one per turn of the event loop.
  await settle();
  await settle();
  assert.deepStrictEqual(started, ["ListContainers", "RunPodSandbox", "RemoveContainer"]);
  const out = await peer.received();
  const statuses = out.filter((f) => f.type === FrameType.HEADERS && f.flags & Flag.END_STREAM)
    .map((f) => [f.streamId, Object.fromEntries(peer.decode(f))["grpc-status"]]);
  assert.deepStrictEqual(statuses.sort(), [[1, "0"], [3, "0"], [5, "0"]]);
});

Deno.test("dispatch: a state change cancelled while it waits its turn never starts", async () => {
  let ran = false;
  const { peer } = setup({
    StopContainer: () => {
      ran = true;
      return Promise.resolve({});
    },
  });
  await peer.received();
  peer.send(
    peer.headers(1, `${RUNTIME}/StopContainer`),
    encodeFrame(FrameType.DATA, Flag.END_STREAM, 1, frameMessage(new Uint8Array(0))),
    encodeFrame(FrameType.RST_STREAM, 0, 1, uint32Payload(ErrorCode.CANCEL)),
  );
  await settle();
  await settle();
  assert.equal(ran, false);
});
