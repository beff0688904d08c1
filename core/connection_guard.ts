/**
 * Keeps a TCP listener (streaming server, admin API) serving under a flood of connections
 * that never send a request: each costs a descriptor, and running out of descriptors stops
 * every listener in the process at once (the CRI socket included).
 *
 * - At most `maxPending` connections may be waiting for their first complete request; a
 *   connection past the cap is closed at once.
 * - A connection that has not completed a request within `headerTimeoutMs` is closed.
 * - EMFILE/ENFILE from `accept` is logged once (until a connection is accepted again) and
 *   the listener goes on: the kernel keeps further clients in the backlog meanwhile.
 *
 * - Deno's `node:net` listener stops accepting for good once `accept` failed with EMFILE,
 *   without an error event (Deno 2.9): a ListenerWatchdog probes the listener and listens
 *   again when a probe is not accepted.
 *
 * Once a connection has sent a request it is the server's (keep-alive and upgrade timeouts
 * apply there); an upgraded stream has presented a token, an admin call its bearer token.
 */
import * as net from "node:net";
import type { Server } from "node:net";
import type { Duplex } from "node:stream";
import type { Logger } from "./log.ts";

export interface ConnectionGuardOptions {
  /** The listener's name in log lines ("streaming", "admin"). */
  name: string;
  maxPending: number;
  headerTimeoutMs: number;
  log: Logger;
  /** Called some time after a burst of connections is over (to give memory back). */
  afterBurst?: () => void;
}

/** Waiting connections that make a burst worth cleaning up after. */
const BURST = 64;
/** After a burst: when to clean up (the runtime frees sockets' memory over a few GCs). */
const AFTER_BURST_MS = [10_000, 40_000];

/** The error codes that say the process or the system is out of descriptors. */
const OUT_OF_DESCRIPTORS = new Set(["EMFILE", "ENFILE"]);

export function isOutOfDescriptors(err: unknown): boolean {
  return OUT_OF_DESCRIPTORS.has((err as { code?: string } | null)?.code ?? "");
}

export class ConnectionGuard {
  readonly #opts: ConnectionGuardOptions;
  readonly #pending = new Map<Duplex, ReturnType<typeof setTimeout>>();
  #refused = 0;
  #timedOut = 0;
  #capWarned = false;
  #descriptorsWarned = false;
  #watchdog: ListenerWatchdog | null = null;
  #burstPeak = 0;
  #afterBurst: ReturnType<typeof setTimeout>[] = [];

  constructor(opts: ConnectionGuardOptions) {
    this.#opts = opts;
  }

  /** Connections still waiting for their first complete request. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Connections closed because the cap was reached, since start. */
  get refused(): number {
    return this.#refused;
  }

  /** Connections closed for sending no complete request in time, since start. */
  get timedOut(): number {
    return this.#timedOut;
  }

  /** Watches `server` (listening already): new connections, accept errors, a stuck accept. */
  attach(server: Server): void {
    server.on("connection", (socket: Duplex) => this.#onConnection(socket));
    server.on("error", (err: Error) => this.#onServerError(err));
    const bound = server.address() as net.AddressInfo;
    // A wildcard address is reached on loopback.
    const host = bound.address === "0.0.0.0"
      ? "127.0.0.1"
      : bound.address === "::"
      ? "::1"
      : bound.address;
    this.#watchdog = new ListenerWatchdog(server, {
      name: this.#opts.name,
      log: this.#opts.log,
      target: () => ({ host, port: bound.port }),
      relisten: () => {
        server.close();
        server.listen(bound.port, bound.address);
      },
    });
  }

  /** A complete request arrived on `socket` (or on the TLS socket wrapping it). */
  admit(socket: Duplex): void {
    const raw = this.#pending.has(socket)
      ? socket
      : (socket as Duplex & { _parent?: Duplex })._parent;
    if (!raw) return;
    const timer = this.#pending.get(raw);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#pending.delete(raw);
  }

  /** Stops the timers (the server closes the sockets). */
  close(): void {
    this.#watchdog?.stop();
    for (const t of this.#afterBurst) clearTimeout(t);
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }

  #onConnection(socket: Duplex): void {
    if (this.#descriptorsWarned) {
      this.#descriptorsWarned = false;
      this.#opts.log.info(`${this.#opts.name}: accepting connections again`);
    }
    socket.on("error", () => {});
    if (this.#pending.size >= this.#opts.maxPending) {
      this.#refused++;
      if (!this.#capWarned) {
        this.#capWarned = true;
        this.#opts.log.warn(
          `${this.#opts.name}: ${this.#opts.maxPending} connections are waiting for a request; ` +
            "closing new ones until some complete or time out",
          { max_pending_connections: this.#opts.maxPending },
        );
      }
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      this.#pending.delete(socket);
      this.#timedOut++;
      socket.destroy();
    }, this.#opts.headerTimeoutMs);
    Deno.unrefTimer(timer);
    this.#pending.set(socket, timer);
    this.#burstPeak = Math.max(this.#burstPeak, this.#pending.size);
    socket.once("close", () => {
      const t = this.#pending.get(socket);
      if (t !== undefined) clearTimeout(t);
      this.#pending.delete(socket);
      // Warn again on the next flood once this one has drained.
      if (this.#capWarned && this.#pending.size < this.#opts.maxPending / 2) {
        this.#capWarned = false;
      }
      if (this.#pending.size === 0 && this.#burstPeak >= BURST) this.#burstOver();
    });
  }

  #burstOver(): void {
    this.#burstPeak = 0;
    const after = this.#opts.afterBurst;
    if (!after) return;
    for (const t of this.#afterBurst) clearTimeout(t);
    this.#afterBurst = AFTER_BURST_MS.map((ms) => {
      const t = setTimeout(after, ms);
      Deno.unrefTimer(t as unknown as number);
      return t;
    });
  }

  #onServerError(err: Error): void {
    if (isOutOfDescriptors(err)) {
      if (!this.#descriptorsWarned) {
        this.#descriptorsWarned = true;
        this.#opts.log.warn(
          `${this.#opts.name}: out of file descriptors; new connections wait until some close`,
          { error: err.message },
        );
      }
      return;
    }
    this.#opts.log.warn(`${this.#opts.name} server error`, { error: err.message });
  }
}

export interface ListenerWatchdogOptions {
  name: string;
  log: Logger;
  /** Where a client reaches the listener: a unix socket path, or host and port. */
  target: () => { path: string } | { host: string; port: number } | null;
  /** Closes the listener and listens again on the same address. */
  relisten: () => void;
  intervalMs?: number;
}

/**
 * Proves every `intervalMs` that `server` still accepts: a listener that accepted
 * something lately is fine; otherwise a probe connects, and when the listener hands over
 * nothing within the interval, it is opened again.
 */
export class ListenerWatchdog {
  readonly #opts: ListenerWatchdogOptions;
  #lastAccept = Date.now();
  #probing = false;
  /** Ends the probe in flight (its connection was accepted). */
  #probeAccepted: (() => void) | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stuckWarned = false;

  constructor(server: Server, opts: ListenerWatchdogOptions) {
    this.#opts = opts;
    server.on("connection", () => {
      this.#lastAccept = Date.now();
      this.#probeAccepted?.();
      if (this.#stuckWarned) {
        this.#stuckWarned = false;
        opts.log.info(`${opts.name}: accepting connections again`);
      }
    });
    const interval = opts.intervalMs ?? 2000;
    this.#timer = setInterval(() => this.#tick(interval), interval);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #tick(interval: number): void {
    if (this.#probing || Date.now() - this.#lastAccept < interval) return;
    const target = this.#opts.target();
    if (!target) return;
    this.#probing = true;
    const started = Date.now();
    const probe = "path" in target
      ? net.connect(target.path)
      : net.connect(target.port, target.host);
    const done = () => {
      clearTimeout(timer);
      probe.destroy();
      this.#probing = false;
      this.#probeAccepted = null;
    };
    this.#probeAccepted = done;
    probe.on("error", (err: Error & { code?: string }) => {
      done();
      // Refused: the listener is gone (a relisten that failed); out of descriptors: wait.
      if (err.code === "ECONNREFUSED" || err.code === "ENOENT") this.#restart("not listening");
    });
    // Nothing accepted while the probe waited (connected into the backlog, or not even that
    // because the backlog is full): the listener is stuck.
    const timer = setTimeout(() => {
      const accepted = this.#lastAccept >= started;
      done();
      if (!accepted) this.#restart("accepts nothing");
    }, interval);
  }

  #restart(why: string): void {
    if (!this.#stuckWarned) {
      this.#stuckWarned = true;
      this.#opts.log.warn(
        `${this.#opts.name}: listener ${why} (after running out of file descriptors?); ` +
          "listening again",
      );
    }
    try {
      this.#opts.relisten();
    } catch (err) {
      this.#opts.log.debug(`${this.#opts.name}: listening again failed`, { error: String(err) });
    }
  }
}
