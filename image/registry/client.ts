/**
 * OCI distribution (Docker Registry HTTP API v2) client on `fetch`: manifests and blobs,
 * auth challenges, mirrors with or without fall-back to the upstream, plain HTTP only for
 * insecure hosts (configured, or localhost/127.0.0.1/::1), retries with backoff on 5xx,
 * 429 and connection errors, and a no-progress timeout instead of a wall-clock one.
 */
import { concatBytes } from "../../core/bytes.ts";
import type { Config, RegistryConfig } from "../../core/config/mod.ts";
import {
  CancelledError,
  DeadlineExceededError,
  FailedPreconditionError,
  NotFoundError,
  SkiffError,
  UnauthenticatedError,
  UnavailableError,
} from "../../core/errors.ts";
import type { Logger } from "../../core/log.ts";
import { DigestMismatchError, sha256Digest } from "../content.ts";
import { DEFAULT_DOMAIN } from "../reference.ts";
import { linkedAbort } from "../abort.ts";
import {
  type Challenge,
  type Credentials,
  credentialsFromConfig,
  parseChallenge,
  TokenCache,
} from "./auth.ts";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerList,
  MEDIA_TYPES.dockerManifest,
].join(", ");

/**
 * A blob download whose connection broke after the response started (reset, cut, EOF
 * before Content-Length): worth downloading again, as containerd and CRI-O do.
 */
export class BlobInterruptedError extends UnavailableError {}

const MAX_MANIFEST_BYTES = 8 * 1024 * 1024;
const MAX_RETRIES = 3;
const BACKOFF_MS = 250;

export interface Endpoint {
  /** `scheme://host[:port]` */
  url: string;
  host: string;
  mirror: boolean;
  creds?: Credentials;
}

export interface FetchedManifest {
  endpoint: Endpoint;
  bytes: Uint8Array;
  mediaType: string;
  digest: string;
}

export interface BlobStream {
  endpoint: Endpoint;
  /** Chunks of the blob; the no-progress timer runs while this is iterated. */
  body: AsyncIterable<Uint8Array>;
}

export interface RegistryClientOptions {
  config: () => Config;
  log: Logger;
  tokens?: TokenCache;
  fetchImpl?: typeof fetch;
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** A timer that aborts when nothing moved for `ms`; `poke()` on every byte that arrives. */
class ProgressWatchdog {
  readonly controller = new AbortController();
  private timer?: ReturnType<typeof setTimeout>;
  fired = false;
  /** Also called when the timer fires (a body reader cancels itself: no signal in between). */
  onFire?: (reason: Error) => void;

  constructor(private readonly ms: number, private readonly what: string) {
    this.poke();
  }

  poke(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.fired = true;
      const reason = new DeadlineExceededError(
        `${this.what}: no byte arrived for ${this.ms / 1000} s (image.progress_timeout_seconds); ` +
          `the registry stalled`,
      );
      this.controller.abort(reason);
      this.onFire?.(reason);
    }, this.ms);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

export class RegistryClient {
  readonly tokens: TokenCache;
  private readonly fetchImpl: typeof fetch;
  /** Last challenge seen per endpoint+repository, so later requests authenticate up front. */
  private readonly challenges = new Map<string, Challenge>();

  constructor(private readonly opts: RegistryClientOptions) {
    this.fetchImpl = opts.fetchImpl ?? fetch;
    this.tokens = opts.tokens ?? new TokenCache(this.fetchImpl);
  }

  private registryConfig(host: string): RegistryConfig | undefined {
    return this.opts.config().image.registries[host];
  }

  private insecure(host: string): boolean {
    return isLoopback(host) || this.registryConfig(host)?.insecure === true;
  }

  /** Mirrors first (in order), then the upstream unless `skip_upstream`. */
  endpoints(domain: string, requestCreds?: Credentials): Endpoint[] {
    const cfg = this.registryConfig(domain);
    const out: Endpoint[] = [];
    for (const m of cfg?.mirrors ?? []) {
      let raw = m.replace(/\/+$/, "").replace(/\/v2$/, "");
      if (!raw.includes("://")) raw = `${this.insecure(raw) ? "http" : "https"}://${raw}`;
      const u = new URL(raw);
      out.push({
        url: `${u.protocol}//${u.host}`,
        host: u.host,
        mirror: true,
        creds: credentialsFromConfig(u.host, this.registryConfig(u.host)),
      });
    }
    if (!cfg?.skip_upstream) {
      const host = domain === DEFAULT_DOMAIN ? "registry-1.docker.io" : domain;
      out.push({
        url: `${this.insecure(domain) ? "http" : "https"}://${host}`,
        host: domain,
        mirror: false,
        creds: requestCreds ?? credentialsFromConfig(domain, cfg),
      });
    }
    if (out.length === 0) {
      throw new FailedPreconditionError(
        `registry ${domain} has skip_upstream = true and no mirrors; add image.registries."${domain}".mirrors`,
      );
    }
    return out;
  }

  /** Tries each endpoint in order; the first success wins. */
  private async tryEndpoints<T>(
    endpoints: Endpoint[],
    signal: AbortSignal,
    fn: (ep: Endpoint) => Promise<T>,
  ): Promise<T> {
    const failures: string[] = [];
    for (let i = 0; i < endpoints.length; i++) {
      const ep = endpoints[i];
      try {
        return await fn(ep);
      } catch (e) {
        if (signal.aborted || e instanceof CancelledError || e instanceof DigestMismatchError) {
          throw e;
        }
        const last = i === endpoints.length - 1;
        const msg = e instanceof Error ? e.message : String(e);
        if (last) {
          if (failures.length === 0) throw e;
          const suffix = ` (tried first: ${failures.join("; ")})`;
          if (e instanceof SkiffError) {
            throw new (e.constructor as new (m: string, o?: ErrorOptions) => SkiffError)(
              msg + suffix,
              { cause: e },
            );
          }
          throw new UnavailableError(msg + suffix, { cause: e });
        }
        failures.push(`${ep.mirror ? "mirror" : "registry"} ${ep.url}: ${msg}`);
        this.opts.log.warn("registry endpoint failed; trying the next", {
          endpoint: ep.url,
          error: msg,
        });
      }
    }
    throw new UnavailableError("no registry endpoint to try");
  }

  /**
   * One request with auth and retries. Returns the response (any status but 401/5xx);
   * the caller handles 404 etc.
   */
  private async request(
    ep: Endpoint,
    repo: string,
    path: string,
    accept: string | undefined,
    signal: AbortSignal,
  ): Promise<Response> {
    const url = `${ep.url}/v2/${repo}/${path}`;
    const scope = `repository:${repo}:pull`;
    const key = `${ep.url}|${repo}`;
    let authRetried = false;
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = {};
      if (accept) headers.Accept = accept;
      const challenge = this.challenges.get(key);
      if (challenge) {
        headers.Authorization = await this.tokens.authorize(
          challenge,
          scope,
          ep.creds,
          ep.host,
          signal,
        );
      } else if (ep.creds?.registryToken) {
        headers.Authorization = `Bearer ${ep.creds.registryToken}`;
      }
      let res: Response;
      try {
        res = await this.fetchImpl(url, { headers, signal, redirect: "follow" });
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        // A mirror that cannot be reached is skipped quickly: the next endpoint may serve.
        if (attempt < (ep.mirror ? 1 : MAX_RETRIES)) {
          this.opts.log.debug("registry request failed; retrying", {
            url,
            attempt,
            error: String(e),
          });
          await sleep(BACKOFF_MS * 2 ** attempt, signal);
          continue;
        }
        throw new UnavailableError(
          `cannot reach registry ${ep.url}: ${e instanceof Error ? e.message : e}`,
        );
      }
      if (res.status === 401) {
        await res.body?.cancel();
        const c = parseChallenge(res.headers.get("www-authenticate"));
        if (!c) {
          throw new UnauthenticatedError(`registry ${ep.host} answered 401 without a challenge`);
        }
        if (challenge) this.tokens.invalidate(challenge, scope, ep.creds);
        if (authRetried) {
          throw new UnauthenticatedError(
            ep.creds
              ? `registry ${ep.host} rejected the credentials for ${repo} (HTTP 401); check the image pull secret`
              : `registry ${ep.host} requires authentication for ${repo} and no credentials were given`,
          );
        }
        this.challenges.set(key, c);
        authRetried = true;
        attempt--;
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && attempt < MAX_RETRIES) {
        await res.body?.cancel();
        const retryAfter = Number(res.headers.get("retry-after"));
        const wait = Number.isFinite(retryAfter) && retryAfter > 0
          ? Math.min(retryAfter * 1000, 10_000)
          : BACKOFF_MS * 2 ** attempt;
        this.opts.log.debug("registry error; retrying", { url, status: res.status, attempt });
        await sleep(wait, signal);
        continue;
      }
      return res;
    }
  }

  private async failure(res: Response, what: string, ep: Endpoint): Promise<never> {
    const text = (await res.text().catch(() => "")).slice(0, 300);
    if (res.status === 404) throw new NotFoundError(`${what} not found on ${ep.url} (HTTP 404)`);
    if (res.status === 403) {
      throw new UnauthenticatedError(
        `registry ${ep.host} denied access to ${what} (HTTP 403): ${text}`,
      );
    }
    throw new UnavailableError(
      `registry ${ep.url} answered HTTP ${res.status} for ${what}: ${text}`,
    );
  }

  /** A watchdog for one request to `ep`, and a signal that follows it and the caller's. */
  private withWatchdog(
    signal: AbortSignal,
    what: string,
    ep: Endpoint,
  ): { wd: ProgressWatchdog; signal: AbortSignal; done: () => void } {
    const wd = new ProgressWatchdog(
      this.opts.config().image.progress_timeout_seconds * 1000,
      `${what} from registry ${ep.host}`,
    );
    const linked = linkedAbort(signal, wd.controller.signal);
    return {
      wd,
      signal: linked.signal,
      done: () => {
        wd.stop();
        linked.dispose();
      },
    };
  }

  private rethrow(e: unknown, wd: ProgressWatchdog, signal: AbortSignal, what: string): never {
    if (wd.fired) throw wd.controller.signal.reason;
    if (signal.aborted) {
      throw new CancelledError(`${what}: cancelled by the caller`, { cause: e });
    }
    throw e;
  }

  /** Fetches a manifest or index by tag or digest; verifies it when asked by digest. */
  async getManifest(
    endpoints: Endpoint[],
    repo: string,
    reference: string,
    signal: AbortSignal,
  ): Promise<FetchedManifest> {
    const what = `manifest ${repo}:${reference}`;
    return await this.tryEndpoints(endpoints, signal, async (ep) => {
      const { wd, signal: s, done } = this.withWatchdog(signal, what, ep);
      try {
        const res = await this.request(ep, repo, `manifests/${reference}`, MANIFEST_ACCEPT, s);
        if (!res.ok) {
          if (res.status === 404) {
            await res.body?.cancel();
            throw new NotFoundError(
              `image ${ep.host}/${repo}${
                reference.includes(":") ? "@" : ":"
              }${reference} not found: ` +
                `${ep.url} has no such ${reference.includes(":") ? "digest" : "tag"}`,
            );
          }
          await this.failure(res, what, ep);
        }
        const bytes = await readLimited(res, MAX_MANIFEST_BYTES, what, () => wd.poke());
        const digest = sha256Digest(bytes);
        if (reference.includes(":") && digest !== reference) {
          throw new DigestMismatchError(`${what}: content hashes to ${digest}`);
        }
        let mediaType = (res.headers.get("content-type") ?? "").split(";")[0].trim();
        try {
          const parsed = JSON.parse(new TextDecoder().decode(bytes));
          if (typeof parsed.mediaType === "string" && parsed.mediaType) {
            mediaType = parsed.mediaType;
          } else if (!Object.values(MEDIA_TYPES).includes(mediaType as never)) {
            mediaType = Array.isArray(parsed.manifests)
              ? MEDIA_TYPES.ociIndex
              : MEDIA_TYPES.ociManifest;
          }
        } catch {
          throw new UnavailableError(`${what} from ${ep.url} is not JSON`);
        }
        return { endpoint: ep, bytes, mediaType, digest };
      } catch (e) {
        this.rethrow(e, wd, signal, what);
      } finally {
        done();
      }
    });
  }

  /**
   * Fetches a small blob (a config) into memory, verified; reading stops as soon as it
   * exceeds `size` (its descriptor's), so an endless blob is never buffered.
   */
  async getBlobBytes(
    endpoints: Endpoint[],
    repo: string,
    digest: string,
    signal: AbortSignal,
    size: number,
  ): Promise<Uint8Array> {
    const out = new Uint8Array(size);
    let n = 0;
    const { body } = await this.openBlob(endpoints, repo, digest, signal);
    for await (const c of body) {
      if (n + c.length > size) {
        throw new DigestMismatchError(
          `blob ${digest} is larger than the ${size} bytes its descriptor says`,
        );
      }
      out.set(c, n);
      n += c.length;
    }
    if (n !== size) {
      throw new DigestMismatchError(
        `blob ${digest}: got ${n} bytes, its descriptor says ${size}`,
      );
    }
    const actual = sha256Digest(out);
    if (actual !== digest) {
      throw new DigestMismatchError(`blob ${digest}: content hashes to ${actual}`);
    }
    return out;
  }

  /**
   * Opens a blob stream. The no-progress timer covers the response headers and every chunk;
   * the caller verifies content (it streams into the content store).
   */
  async openBlob(
    endpoints: Endpoint[],
    repo: string,
    digest: string,
    signal: AbortSignal,
  ): Promise<BlobStream> {
    const what = `blob ${digest} of ${repo}`;
    return await this.tryEndpoints(endpoints, signal, async (ep) => {
      const { wd, signal: s, done } = this.withWatchdog(signal, what, ep);
      let res: Response;
      try {
        res = await this.request(ep, repo, `blobs/${digest}`, undefined, s);
        if (!res.ok) await this.failure(res, what, ep);
      } catch (e) {
        done();
        this.rethrow(e, wd, signal, what);
      }
      const rethrow: (e: unknown) => never = (e) => this.rethrow(e, wd, signal, what);
      const stream = res.body;
      async function* body(): AsyncIterable<Uint8Array> {
        if (!stream) return;
        const reader = stream.getReader();
        let received = 0;
        // The watchdog cancels the read itself: a stalled body never waits on a signal alone.
        wd.onFire = (reason) => reader.cancel(reason).catch(() => {});
        const onCancel = () => reader.cancel(signal.reason).catch(() => {});
        signal.addEventListener("abort", onCancel, { once: true });
        try {
          while (true) {
            let r: ReadableStreamReadResult<Uint8Array>;
            try {
              r = await reader.read();
            } catch (e) {
              if (wd.fired || signal.aborted) rethrow(e);
              throw new BlobInterruptedError(
                `${what}: the connection to ${ep.url} broke after ${received} bytes (${
                  e instanceof Error ? e.message : e
                })`,
                { cause: e },
              );
            }
            if (r.done) {
              if (wd.fired || signal.aborted) rethrow(new Error("download stopped"));
              return;
            }
            wd.poke();
            received += r.value.length;
            yield r.value;
          }
        } finally {
          done();
          signal.removeEventListener("abort", onCancel);
          reader.cancel().catch(() => {});
        }
      }
      return { endpoint: ep, body: body() };
    });
  }
}

async function readLimited(
  res: Response,
  limit: number,
  what: string,
  onChunk: () => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  if (res.body) {
    for await (const c of res.body) {
      onChunk();
      n += c.length;
      if (n > limit) {
        throw new FailedPreconditionError(`${what} is larger than ${limit} bytes (the limit)`);
      }
      chunks.push(c);
    }
  }
  return concatBytes(chunks);
}
