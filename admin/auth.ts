/**
 * The admin API's bearer token: as an Authorization header, or (browsers cannot set headers
 * on WebSocket) as a Kubernetes-style WebSocket subprotocol. Compared in constant time.
 */
import type { MiddlewareHandler } from "hono";
import { problem, problemResponse } from "./problem.ts";

/** Kubernetes' way to carry a bearer token where a browser cannot set headers (WebSocket). */
export const WS_TOKEN_PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io.";

function constantTimeEqual(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  let diff = ea.length ^ eb.length;
  for (let i = 0; i < Math.max(ea.length, eb.length); i++) diff |= (ea[i] ?? 0) ^ (eb[i] ?? 0);
  return diff === 0;
}

export function hasValidToken(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return !!m && constantTimeEqual(m[1], token);
}

function base64UrlDecode(s: string): string | null {
  try {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    return new TextDecoder().decode(
      Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (ch) => ch.charCodeAt(0)),
    );
  } catch {
    return null;
  }
}

/** The token offered as a WebSocket subprotocol, if any. */
export function tokenFromWsProtocols(header: string | undefined): string | null {
  for (const p of (header ?? "").split(",").map((s) => s.trim())) {
    if (p.startsWith(WS_TOKEN_PROTOCOL_PREFIX)) {
      return base64UrlDecode(p.slice(WS_TOKEN_PROTOCOL_PREFIX.length));
    }
  }
  return null;
}

/**
 * Answers 401 to a request for a path that `protects` without the token. CORS preflights
 * carry no credentials; the cors middleware (when configured) answered them.
 */
export function requireToken(
  token: string,
  protects: (path: string) => boolean,
): MiddlewareHandler {
  return async (c, next) => {
    if (protects(c.req.path) && c.req.method !== "OPTIONS") {
      const wsToken = tokenFromWsProtocols(c.req.header("sec-websocket-protocol"));
      const ok = hasValidToken(c.req.header("authorization"), token) ||
        (wsToken !== null && constantTimeEqual(wsToken, token));
      if (!ok) {
        return problemResponse(
          problem(
            401,
            "UNAUTHENTICATED",
            "a valid bearer token is required (see admin.token_file in the config)",
          ),
          { "www-authenticate": 'Bearer realm="skiff"' },
        );
      }
    }
    await next();
  };
}
