import assert from "node:assert/strict";
import { hasValidToken, tokenFromWsProtocols, WS_TOKEN_PROTOCOL_PREFIX } from "./auth.ts";

Deno.test("auth: bearer header, any case of the scheme, exact token", () => {
  assert.equal(hasValidToken("Bearer s3cret", "s3cret"), true);
  assert.equal(hasValidToken("bearer s3cret", "s3cret"), true);
  assert.equal(hasValidToken("Bearer s3cre", "s3cret"), false);
  assert.equal(hasValidToken("Basic s3cret", "s3cret"), false);
  assert.equal(hasValidToken(undefined, "s3cret"), false);
});

Deno.test("auth: token as a base64url WebSocket subprotocol", () => {
  const b64 = btoa("a?b>c").replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  assert.equal(
    tokenFromWsProtocols(`v5.channel.k8s.io, ${WS_TOKEN_PROTOCOL_PREFIX}${b64}`),
    "a?b>c",
  );
  assert.equal(tokenFromWsProtocols("v5.channel.k8s.io"), null);
  assert.equal(tokenFromWsProtocols(undefined), null);
});
