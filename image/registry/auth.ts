/**
 * Registry credentials and the `WWW-Authenticate` flows: Basic, and Bearer tokens from the
 * realm the registry names (service/scope), cached until they expire.
 */
import { UnauthenticatedError } from "../../core/errors.ts";
import type { RegistryConfig } from "../../core/config/mod.ts";

export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (Docker's identitytoken). */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
}

/** CRI AuthConfig shape (the fields Skiff reads). */
export interface CriAuth {
  username?: string;
  password?: string;
  auth?: string;
  identity_token?: string;
  registry_token?: string;
}

function decodeAuth(auth: string, where: string): { username: string; password: string } {
  let text: string;
  try {
    text = atob(auth);
  } catch {
    throw new UnauthenticatedError(`${where}: "auth" is not valid base64 of user:password`);
  }
  const i = text.indexOf(":");
  if (i < 0) throw new UnauthenticatedError(`${where}: "auth" must encode user:password`);
  return { username: text.slice(0, i), password: text.slice(i + 1) };
}

export function credentialsFromCri(a: CriAuth | null | undefined): Credentials | undefined {
  if (!a) return undefined;
  if (a.registry_token) return { registryToken: a.registry_token };
  if (a.identity_token) return { identityToken: a.identity_token, username: a.username };
  if (a.username || a.password) return { username: a.username ?? "", password: a.password ?? "" };
  if (a.auth) return decodeAuth(a.auth, "PullImage auth");
  return undefined;
}

export function credentialsFromConfig(
  host: string,
  r: RegistryConfig | undefined,
): Credentials | undefined {
  if (!r) return undefined;
  if (r.identity_token) return { identityToken: r.identity_token, username: r.username };
  if (r.username || r.password) return { username: r.username, password: r.password };
  if (r.auth) return decodeAuth(r.auth, `config image.registries."${host}"`);
  return undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (first challenge only). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = header.match(/^\s*(\w+)\s*(.*)$/s);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2])) !== null) params[p[1].toLowerCase()] = p[2] ?? p[3] ?? "";
  return { scheme: m[1].toLowerCase(), params };
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** Bearer tokens by realm/service/scope/identity, shared by all pulls of one Skiff. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  constructor(private readonly fetchImpl: typeof fetch = fetch) {}

  private key(c: Challenge, scope: string, creds: Credentials | undefined): string {
    return JSON.stringify([
      c.params.realm,
      c.params.service,
      scope,
      creds?.username ?? "",
      creds?.password ?? "",
      creds?.identityToken ?? "",
    ]);
  }

  /** Returns `Authorization` for a challenge, fetching a token when none is cached. */
  async authorize(
    challenge: Challenge,
    scope: string,
    creds: Credentials | undefined,
    host: string,
    signal: AbortSignal,
  ): Promise<string> {
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    if (challenge.scheme === "basic") {
      if (!creds || creds.username === undefined) {
        throw new UnauthenticatedError(
          `registry ${host} requires credentials (Basic auth) and none were given: ` +
            `pass a pull secret or set image.registries."${host}" username/password`,
        );
      }
      return `Basic ${btoa(`${creds.username}:${creds.password ?? ""}`)}`;
    }
    if (challenge.scheme !== "bearer") {
      throw new UnauthenticatedError(
        `registry ${host} asks for unsupported auth scheme ${JSON.stringify(challenge.scheme)}`,
      );
    }
    const key = this.key(challenge, scope, creds);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    const token = await this.fetchToken(challenge, scope, creds, host, signal);
    this.tokens.set(key, token);
    return `Bearer ${token.value}`;
  }

  /** Drops a token the registry refused, so the next attempt fetches a fresh one. */
  invalidate(challenge: Challenge, scope: string, creds: Credentials | undefined): void {
    this.tokens.delete(this.key(challenge, scope, creds));
  }

  private async fetchToken(
    c: Challenge,
    scope: string,
    creds: Credentials | undefined,
    host: string,
    signal: AbortSignal,
  ): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) {
      throw new UnauthenticatedError(`registry ${host} sent a Bearer challenge without realm`);
    }
    let res: Response;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as Docker does with an identity token.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: "skiff",
        ...(c.params.service ? { service: c.params.service } : {}),
        scope,
      });
      res = await this.fetchImpl(realm, { method: "POST", body: form, signal });
    } else {
      const url = new URL(realm);
      if (c.params.service) url.searchParams.set("service", c.params.service);
      url.searchParams.set("scope", scope);
      const headers: Record<string, string> = {};
      if (creds?.username !== undefined) {
        headers.Authorization = `Basic ${btoa(`${creds.username}:${creds.password ?? ""}`)}`;
      }
      res = await this.fetchImpl(url, { headers, signal });
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403) {
      throw new UnauthenticatedError(
        `the token service of ${host} (${realm}) refused the credentials (HTTP ${res.status}); ` +
          `check the image pull secret`,
      );
    }
    if (!res.ok) {
      throw new UnauthenticatedError(
        `the token service of ${host} answered HTTP ${res.status}: ${text.slice(0, 200)}`,
      );
    }
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text);
    } catch {
      throw new UnauthenticatedError(`the token service of ${host} did not answer JSON`);
    }
    const value = body.token ?? body.access_token;
    if (!value) throw new UnauthenticatedError(`the token service of ${host} returned no token`);
    // Tokens live 60 s when unspecified; renew a little early.
    const ttl = Math.max(10, (body.expires_in ?? 60) - 5);
    return { value, expiresAt: Date.now() + ttl * 1000 };
  }
}
