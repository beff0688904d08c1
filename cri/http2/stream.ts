/**
 * One HTTP/2 stream as the server sees it: the request's headers and body arrive through
 * callbacks; the response goes out through sendHeaders / sendData / sendTrailers, with DATA
 * held back by the peer's flow-control windows (the connection flushes it).
 */
import type { HeaderField } from "./hpack.ts";

/** What a stream needs of its connection. */
export interface StreamOwner {
  /** Replies are queued behind the client's connection window (it has not read enough). */
  readonly repliesWaiting: boolean;
  /** Queues a header block (HEADERS + CONTINUATIONs) for the stream. */
  writeHeaders(
    stream: ServerStream,
    block: Uint8Array | readonly HeaderField[],
    end: boolean,
  ): void;
  /**
   * A whole response (header block, one DATA payload, trailer block) as one buffer, when
   * nothing is queued and the windows and frame size take it; false otherwise (nothing sent).
   */
  writeResponse(
    stream: ServerStream,
    headers: Uint8Array,
    data: Uint8Array,
    trailers: Uint8Array,
  ): boolean;
  /** Sends what the windows allow of the stream's queued DATA (and trailers after it). */
  flushStream(stream: ServerStream): void;
  /** Sends RST_STREAM and forgets the stream. */
  resetStream(stream: ServerStream, code: number): void;
  /**
   * The application is done and the response is out (or the stream was aborted): the
   * stream stops counting against the concurrency limit.
   */
  streamClosed(stream: ServerStream): void;
}

export class ServerStream {
  /** Request body bytes, as they arrive. */
  onData: (chunk: Uint8Array) => void = () => {};
  /** The client ended its side (END_STREAM). */
  onEnd: () => void = () => {};
  /** The client reset the stream or the connection went away: stop working on it. */
  onAbort: (reason: string) => void = () => {};

  /** Flow-control windows: what the client lets the server send, and the reverse. */
  sendWindow: number;
  recvWindow: number;
  /** Received bytes not yet given back with WINDOW_UPDATE. */
  recvUnacked = 0;
  /** Request bytes received so far (counted against the connection's buffering bound). */
  received = 0;

  recvEnded = false;
  headersSent = false;
  /** END_STREAM sent (or RST_STREAM either way): nothing more goes out. */
  sendEnded = false;
  aborted = false;
  /** The application called done(): until then an aborted stream still counts as running. */
  private appDone = false;

  /** DATA waiting for window, and the trailers to send once it is out. */
  readonly pending: Uint8Array[] = [];
  pendingBytes = 0;
  pendingTrailers: Uint8Array | readonly HeaderField[] | null = null;
  private drainWaiters: (() => void)[] = [];

  constructor(
    readonly id: number,
    readonly headers: ReadonlyMap<string, string>,
    private readonly owner: StreamOwner,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** The connection, as far as whether its replies wait for the client's WINDOW_UPDATE. */
  get connection(): { readonly repliesWaiting: boolean } {
    return this.owner;
  }

  header(name: string): string | undefined {
    return this.headers.get(name);
  }

  /** Response headers; `end` makes them the whole response (a trailers-only reply). */
  sendHeaders(fields: Uint8Array | readonly HeaderField[], end = false): void {
    if (this.sendEnded || this.headersSent) return;
    this.headersSent = true;
    if (end) this.sendEnded = true;
    this.owner.writeHeaders(this, fields, end);
    if (end) this.closeIfDone();
  }

  sendData(bytes: Uint8Array): void {
    if (this.sendEnded || this.pendingTrailers) return;
    if (bytes.length === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.owner.flushStream(this);
  }

  /**
   * Headers, body and trailers in one go: a unary reply. One buffer when it fits (most do),
   * else the frames one by one as flow control allows.
   */
  sendResponse(headers: Uint8Array, data: Uint8Array, trailers: Uint8Array): void {
    if (this.sendEnded || this.headersSent) return;
    if (this.owner.writeResponse(this, headers, data, trailers)) {
      this.headersSent = true;
      this.sendEnded = true;
      this.closeIfDone();
      return;
    }
    this.sendHeaders(headers);
    this.sendData(data);
    this.sendTrailers(trailers);
  }

  /** Trailers end the response; they leave after every queued DATA byte. */
  sendTrailers(fields: Uint8Array | readonly HeaderField[]): void {
    if (this.sendEnded || this.pendingTrailers) return;
    this.pendingTrailers = fields;
    this.owner.flushStream(this);
  }

  reset(code: number): void {
    if (this.sendEnded) return;
    this.sendEnded = true;
    this.dropPending();
    this.owner.resetStream(this, code);
    this.closeIfDone();
  }

  /**
   * The application will send nothing more. A stream reset by the client keeps counting
   * against the concurrency limit until then, so resetting streams as fast as they are
   * opened cannot pile up work without bound.
   */
  done(): void {
    this.appDone = true;
    this.closeIfDone();
  }

  /** Resolves once every queued DATA byte went out (or the stream ended). */
  drained(): Promise<void> {
    if (this.pendingBytes === 0 || this.sendEnded) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Called by the connection after sending what it could. */
  afterFlush(): void {
    if (this.pendingBytes === 0 || this.sendEnded) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
    this.closeIfDone();
  }

  /** The client's side ended; tells the application. */
  endRecv(): void {
    if (this.recvEnded) return;
    this.recvEnded = true;
    if (!this.aborted) this.onEnd();
  }

  /** The client reset the stream, or the connection closed. */
  abort(reason: string): void {
    if (this.aborted) return;
    this.aborted = true;
    this.recvEnded = true;
    this.sendEnded = true;
    this.dropPending();
    this.onAbort(reason);
    this.closeIfDone();
  }

  private dropPending(): void {
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.pendingTrailers = null;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  private closed = false;
  private closeIfDone(): void {
    if (this.closed || !this.appDone) return;
    if (!this.aborted && (!this.sendEnded || this.pendingBytes > 0)) return;
    this.closed = true;
    this.owner.streamClosed(this);
  }
}
