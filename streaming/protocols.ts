/**
 * The Kubernetes streaming protocols Skiff speaks: their names and versions, the v4+ JSON
 * Status on the error stream, and terminal resize messages.
 */
import { ExitCodeError, type TerminalSize } from "./types.ts";

/** SPDY remote-command protocols, newest (preferred) first. */
export const SPDY_COMMAND_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v3.channel.k8s.io",
  "v2.channel.k8s.io",
  "channel.k8s.io",
] as const;
export const SPDY_PORT_FORWARD_PROTOCOL = "portforward.k8s.io";
/** WebSocket subprotocols for remote command and port-forward. */
export const WS_PROTOCOLS = [
  "v5.channel.k8s.io",
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
] as const;
export const WS_PORT_FORWARD_PROTOCOLS = [
  "v4.channel.k8s.io",
  "v4.base64.channel.k8s.io",
  "portforward.k8s.io",
  "channel.k8s.io",
  "base64.channel.k8s.io",
];

export const STREAM_PROTOCOL_HEADER = "x-stream-protocol-version";

export function protocolVersion(protocol: string): number {
  const m = /^v(\d+)\./.exec(protocol);
  return m ? Number(m[1]) : 1;
}

/** v4+ JSON Status for the error stream; null for success. */
export function statusJson(err: Error | null): string {
  if (!err) return JSON.stringify({ metadata: {}, status: "Success" });
  if (err instanceof ExitCodeError) {
    return JSON.stringify({
      metadata: {},
      status: "Failure",
      message: err.message,
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: String(err.exitCode) }] },
    });
  }
  return JSON.stringify({
    metadata: {},
    status: "Failure",
    message: `Internal error occurred: ${err.message}`,
    reason: "InternalError",
    details: { causes: [{ message: err.message }] },
    code: 500,
  });
}

/** What goes on the error stream at the end, per protocol version; null = nothing. */
export function finalErrorMessage(version: number, err: Error | null): string | null {
  if (version >= 4) return statusJson(err);
  return err ? err.message : null;
}

/** JSON `{"Width":w,"Height":h}` objects, one after another, into sizes. */
export function resizeEvents(bytes: ReadableStream<Uint8Array>): ReadableStream<TerminalSize> {
  const td = new TextDecoder();
  let text = "";
  return bytes.pipeThrough(
    new TransformStream<Uint8Array, TerminalSize>({
      transform(chunk, controller) {
        text += td.decode(chunk, { stream: true });
        for (;;) {
          const start = text.indexOf("{");
          const end = text.indexOf("}", start);
          if (start < 0 || end < 0) break;
          const obj = text.slice(start, end + 1);
          text = text.slice(end + 1);
          try {
            const v = JSON.parse(obj) as { Width?: number; Height?: number };
            const width = Number(v.Width ?? 0), height = Number(v.Height ?? 0);
            if (width > 0 && height > 0 && width < 65536 && height < 65536) {
              controller.enqueue({ width, height });
            }
          } catch {
            // A malformed resize message is dropped, as kubelet does.
          }
        }
        if (text.length > 4096) text = "";
      },
    }),
  );
}

export async function writeText(w: WritableStream<Uint8Array>, text: string): Promise<void> {
  const writer = w.getWriter();
  try {
    if (text) await writer.write(new TextEncoder().encode(text));
    await writer.close();
  } catch {
    // The client went away; nothing left to tell it.
  } finally {
    writer.releaseLock();
  }
}
