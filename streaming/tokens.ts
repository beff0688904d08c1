/**
 * Single-use tokens for streaming URLs: `Exec`/`Attach`/`PortForward` store the request and
 * return a URL naming a random token; the first HTTP request with it takes it out. As in
 * kubelet's request cache, tokens expire (default one minute) and at most a bounded number
 * may be outstanding.
 */
import { ResourceExhaustedError } from "../core/errors.ts";
import type { AttachRequest, ExecRequest, PortForwardRequest } from "./types.ts";

export type StreamingRequest =
  | { kind: "exec"; req: ExecRequest }
  | { kind: "attach"; req: AttachRequest }
  | { kind: "portforward"; req: PortForwardRequest };

export interface TokenStoreOptions {
  ttlMs?: number;
  maxOutstanding?: number;
  now?: () => number;
}

export class TokenStore {
  readonly #entries = new Map<string, { request: StreamingRequest; expiresAt: number }>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(opts: TokenStoreOptions = {}) {
    this.#ttlMs = opts.ttlMs ?? 60_000;
    this.#max = opts.maxOutstanding ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Stores a request and returns its token (URL-safe). */
  insert(request: StreamingRequest): string {
    if (this.#entries.size >= this.#max) this.#evictExpired();
    if (this.#entries.size >= this.#max) {
      throw new ResourceExhaustedError(
        `${this.#max} streaming requests are already waiting for their client; ` +
          "retry once some were used or expired",
      );
    }
    const bytes = crypto.getRandomValues(new Uint8Array(18));
    const token = btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
    this.#entries.set(token, { request, expiresAt: this.#now() + this.#ttlMs });
    return token;
  }

  /** Takes the request out; undefined when unknown, already used, or expired. */
  consume(token: string, kind: StreamingRequest["kind"]): StreamingRequest | undefined {
    const e = this.#entries.get(token);
    if (!e) return undefined;
    this.#entries.delete(token);
    if (e.expiresAt <= this.#now() || e.request.kind !== kind) return undefined;
    return e.request;
  }

  /** Whether `token` would be consumed for `kind`, without taking it out. */
  has(token: string, kind: StreamingRequest["kind"]): boolean {
    const e = this.#entries.get(token);
    return e !== undefined && e.expiresAt > this.#now() && e.request.kind === kind;
  }

  #evictExpired(): void {
    const now = this.#now();
    for (const [t, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(t);
  }
}
