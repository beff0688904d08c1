/**
 * A client for Kubernetes' WebSocket remote-command protocol (`v5.channel.k8s.io`, falling
 * back to `v4.channel.k8s.io`): what `skiff exec -it` and `skiff attach` speak to the URL
 * that the Exec/Attach RPCs return. Each binary message is one channel byte + payload:
 * 0 stdin, 1 stdout, 2 stderr, 3 error (a JSON Status at the end), 4 resize (JSON
 * {Width, Height}); v5 adds 255 = close, with the closed channel as the payload.
 */

export const REMOTE_COMMAND_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 };

export interface RemoteCommandIo {
  stdin?: ReadableStream<Uint8Array>;
  stdout: (b: Uint8Array) => void | Promise<void>;
  stderr: (b: Uint8Array) => void | Promise<void>;
  /** Terminal sizes to send (first value at once, then on each change). */
  resizes?: AsyncIterable<{ width: number; height: number }>;
  /** Extra subprotocols to offer, e.g. the admin API's bearer-token protocol. */
  extraProtocols?: string[];
  /** Closes the stream (e.g. detaching from an attach). */
  signal?: AbortSignal;
}

interface K8sStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** Exit code from the error channel's Status: 0 for Success, the ExitCode cause otherwise. */
export function exitCodeFromStatus(text: string): { code: number; message: string } {
  let st: K8sStatus;
  try {
    st = JSON.parse(text);
  } catch {
    return { code: 1, message: text };
  }
  if (st.status === "Success") return { code: 0, message: "" };
  const cause = st.details?.causes?.find((c) => c.reason === "ExitCode");
  if (st.reason === "NonZeroExitCode" && cause?.message && /^\d+$/.test(cause.message)) {
    return { code: Number(cause.message), message: "" };
  }
  return { code: 1, message: st.message ?? text };
}

function frame(channel: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1);
  out[0] = channel;
  out.set(payload, 1);
  return out;
}

/** Runs one remote command over WebSocket; resolves with its exit code. */
export async function runRemoteCommand(url: string, io: RemoteCommandIo): Promise<number> {
  const wsUrl = url.replace(/^http/, "ws");
  const ws = new WebSocket(wsUrl, [...REMOTE_COMMAND_PROTOCOLS, ...(io.extraProtocols ?? [])]);
  ws.binaryType = "arraybuffer";
  const opened = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  let errorText = "";
  let failedToOpen: string | null = null;
  ws.onopen = () => opened.resolve();
  ws.onerror = (e) => {
    failedToOpen = (e as ErrorEvent).message ?? "WebSocket error";
    opened.resolve();
  };
  ws.onclose = () => {
    opened.resolve();
    closed.resolve();
  };
  const writes: Promise<void>[] = [];
  ws.onmessage = (m) => {
    const data = new Uint8Array(m.data as ArrayBuffer);
    if (data.length === 0) return;
    const payload = data.subarray(1);
    switch (data[0]) {
      case Channel.stdout:
        writes.push(Promise.resolve(io.stdout(payload)));
        break;
      case Channel.stderr:
        writes.push(Promise.resolve(io.stderr(payload)));
        break;
      case Channel.error:
        errorText += new TextDecoder().decode(payload);
        break;
    }
  };
  await opened.promise;
  if (ws.readyState !== WebSocket.OPEN) {
    throw new Error(`cannot open ${wsUrl}: ${failedToOpen ?? "connection closed"}`);
  }
  const v5 = ws.protocol === "v5.channel.k8s.io";
  const detach = () => ws.close(1000);
  io.signal?.addEventListener("abort", detach, { once: true });
  if (io.signal?.aborted) detach();
  const pumps: Promise<void>[] = [];
  if (io.resizes) {
    pumps.push(
      (async () => {
        for await (const s of io.resizes!) {
          if (ws.readyState !== WebSocket.OPEN) break;
          ws.send(frame(
            Channel.resize,
            new TextEncoder().encode(JSON.stringify({ Width: s.width, Height: s.height })),
          ));
        }
      })().catch(() => {}),
    );
  }
  if (io.stdin) {
    const reader = io.stdin.getReader();
    pumps.push(
      (async () => {
        try {
          while (ws.readyState === WebSocket.OPEN) {
            const r = await Promise.race([reader.read(), closed.promise.then(() => null)]);
            if (!r || r.done) break;
            ws.send(frame(Channel.stdin, r.value));
          }
          // v5 can half-close stdin; v4 cannot, and the command sees EOF when the socket ends.
          if (v5 && ws.readyState === WebSocket.OPEN) ws.send(new Uint8Array([Channel.close, 0]));
        } finally {
          reader.releaseLock();
        }
      })().catch(() => {}),
    );
  }
  await closed.promise;
  io.signal?.removeEventListener("abort", detach);
  await Promise.all(writes);
  if (!errorText) return 0;
  const { code, message } = exitCodeFromStatus(errorText);
  if (message) await io.stderr(new TextEncoder().encode(`error: ${message}\n`));
  return code;
}
