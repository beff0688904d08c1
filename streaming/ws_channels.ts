import { Buffer } from "node:buffer";
import { WebSocket } from "ws";

/**
 * Kubernetes' channel framing over one WebSocket: each message starts with a channel byte
 * (binary protocols) or a channel digit followed by base64 (`base64.` protocols).
 * `v5.channel.k8s.io` adds a close signal: channel 255 followed by the channel to close.
 */
export class WsChannels {
  readonly #ws: WebSocket;
  readonly #base64: boolean;
  readonly #v5: boolean;
  readonly #readers = new Map<number, ReadableStreamDefaultController<Uint8Array>>();
  readonly #slow = new Set<number>();
  #closed = false;
  onClose: () => void = () => {};

  constructor(ws: WebSocket, protocol: string) {
    this.#ws = ws;
    this.#base64 = protocol.includes("base64");
    this.#v5 = protocol.startsWith("v5.");
    ws.on("message", (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    ws.on("close", () => this.#teardown());
    ws.on("error", () => this.#teardown());
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The socket is gone: every input channel ends (EOF, like a half-close).
    for (const c of this.#readers.values()) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#readers.clear();
    this.onClose();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    let channel: number;
    let payload: Uint8Array;
    if (this.#base64 && !isBinary) {
      const text = data.toString("utf8");
      if (!text.length) return;
      channel = text.charCodeAt(0) - 48;
      payload = Uint8Array.from(atob(text.slice(1)), (c) => c.charCodeAt(0));
    } else {
      if (!data.length) return;
      channel = data[0];
      payload = new Uint8Array(data.subarray(1));
    }
    if (this.#v5 && channel === 255) {
      const c = this.#readers.get(payload[0]);
      if (c) {
        try {
          c.close();
        } catch { /* already closed */ }
        this.#readers.delete(payload[0]);
      }
      return;
    }
    const c = this.#readers.get(channel);
    if (!c || !payload.length) return;
    c.enqueue(payload);
    if ((c.desiredSize ?? 1) <= 0) {
      this.#slow.add(channel);
      this.#ws.pause();
    }
  }

  readable(channel: number): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>({
      start: (controller) => {
        if (this.#closed) controller.close();
        else this.#readers.set(channel, controller);
      },
      pull: () => {
        if (this.#slow.delete(channel) && this.#slow.size === 0 && !this.#closed) {
          this.#ws.resume();
        }
      },
      cancel: () => {
        this.#readers.delete(channel);
        if (this.#slow.delete(channel) && this.#slow.size === 0 && !this.#closed) {
          this.#ws.resume();
        }
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: 256 * 1024 }));
  }

  writable(channel: number): WritableStream<Uint8Array> {
    return new WritableStream<Uint8Array>({
      write: async (chunk) => {
        for (let off = 0; off < chunk.length; off += 32 * 1024) {
          await this.sendAsync(channel, chunk.subarray(off, off + 32 * 1024));
        }
      },
    });
  }

  #frame(channel: number, payload: Uint8Array): Buffer | string {
    if (this.#base64) {
      let bin = "";
      for (let i = 0; i < payload.length; i += 8192) {
        bin += String.fromCharCode(...payload.subarray(i, i + 8192));
      }
      return String.fromCharCode(48 + channel) + btoa(bin);
    }
    const out = Buffer.allocUnsafe(payload.length + 1);
    out[0] = channel;
    out.set(payload, 1);
    return out;
  }

  send(channel: number, payload: Uint8Array): void {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return;
    this.#ws.send(this.#frame(channel, payload));
  }

  /** Resolves once the frame was handed to the socket: the producer's backpressure. */
  sendAsync(channel: number, payload: Uint8Array): Promise<void> {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error("WebSocket is closed"));
    }
    return new Promise((resolve, reject) =>
      this.#ws.send(this.#frame(channel, payload), (err) => err ? reject(err) : resolve())
    );
  }

  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.close(1000);
  }
}
