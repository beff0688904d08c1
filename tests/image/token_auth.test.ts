/**
 * Bearer token auth (the flow Docker Hub, GHCR, registry.k8s.io… use): the real registry
 * sits behind a small gate that demands `Bearer` tokens issued by a token service, both
 * on 127.0.0.1. Checks the realm/service/scope exchange, token caching, bad credentials →
 * UNAUTHENTICATED naming the token service, CRI `registry_token` used as is, and
 * `identity_token` exchanged through the OAuth2 refresh-token grant.
 */
import assert from "node:assert/strict";
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { registryPrerequisitesMissing, TestRegistry } from "../helpers/registry.ts";
import { buildImage, file, pushImage } from "../helpers/oci_build.ts";
import { freePort } from "../helpers/env.ts";
import { errorKind } from "../../core/errors.ts";
import { parseChallenge } from "../../image/registry/auth.ts";
import { ImageFixture } from "./fixture.ts";

const skip = registryPrerequisitesMissing();

Deno.test("auth: WWW-Authenticate challenges parse with quoted and bare values", () => {
  assertEquals(
    parseChallenge(
      'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.example.com/token",
        service: "registry.example.com",
        scope: "repository:a/b:pull,push",
      },
    },
  );
  assertEquals(parseChallenge('Basic realm="x"'), { scheme: "basic", params: { realm: "x" } });
  assertEquals(parseChallenge(null), undefined);
});

/** Token service + gate in front of a registry. */
class TokenGate {
  readonly tokenPort = freePort();
  readonly gatePort = freePort();
  readonly host = `127.0.0.1:${this.gatePort}`;
  tokenRequests: string[] = [];
  private readonly ac = new AbortController();
  private readonly servers: Deno.HttpServer[] = [];

  constructor(
    private readonly target: string,
    private readonly user: string,
    private readonly pass: string,
  ) {
    this.servers.push(Deno.serve(
      { hostname: "127.0.0.1", port: this.tokenPort, signal: this.ac.signal, onListen: () => {} },
      (req) => this.token(req),
    ));
    this.servers.push(Deno.serve(
      { hostname: "127.0.0.1", port: this.gatePort, signal: this.ac.signal, onListen: () => {} },
      (req) => this.gate(req),
    ));
  }

  private async token(req: Request): Promise<Response> {
    const u = new URL(req.url);
    if (req.method === "POST") {
      // OAuth2 refresh-token grant (CRI identity_token).
      const form = new URLSearchParams(await req.text());
      this.tokenRequests.push(`refresh:${form.get("scope")}`);
      if (
        form.get("grant_type") !== "refresh_token" || form.get("refresh_token") !== "refresh-ok"
      ) {
        return new Response("denied", { status: 401 });
      }
      return Response.json({ access_token: `tok|${form.get("scope")}`, expires_in: 300 });
    }
    const scope = u.searchParams.get("scope") ?? "";
    this.tokenRequests.push(scope);
    if (req.headers.get("authorization") !== `Basic ${btoa(`${this.user}:${this.pass}`)}`) {
      return new Response("denied", { status: 401 });
    }
    if (u.searchParams.get("service") !== "test-registry") return new Response("", { status: 400 });
    return Response.json({ token: `tok|${scope}`, expires_in: 300 });
  }

  private async gate(req: Request): Promise<Response> {
    const u = new URL(req.url);
    const repo = u.pathname.match(/^\/v2\/(.+)\/(manifests|blobs)\//)?.[1] ?? "";
    const scope = `repository:${repo}:pull`;
    if (req.headers.get("authorization") !== `Bearer tok|${scope}`) {
      return new Response("unauthorized", {
        status: 401,
        headers: {
          "WWW-Authenticate":
            `Bearer realm="http://127.0.0.1:${this.tokenPort}/token",service="test-registry",scope="${scope}"`,
        },
      });
    }
    const res = await fetch(`${this.target}${u.pathname}${u.search}`, {
      headers: { accept: req.headers.get("accept") ?? "*/*" },
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  }

  async close(): Promise<void> {
    this.ac.abort();
    for (const s of this.servers) await s.finished.catch(() => {});
  }
}

Deno.test({
  name: "auth: Bearer token flow with caching, bad credentials, registry_token",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const registry = await TestRegistry.start();
    const gate = new TokenGate(registry.url, "alice", "s3cret");
    const fx = await ImageFixture.create();
    try {
      const img = await buildImage({ layers: [[file("a", "a")], [file("b", "b")]] });
      await pushImage(registry, "team/app:1", img);
      const ref = `${gate.host}/team/app:1`;

      const anonymous = await fx.images.pull(ref).catch((e) => e);
      assertEquals(errorKind(anonymous), "unauthenticated");

      const wrong = await fx.images.pull(ref, { auth: { username: "alice", password: "nope" } })
        .catch((e) => e);
      assertEquals(errorKind(wrong), "unauthenticated");
      assert(/token service .* refused the credentials/.test(wrong.message), wrong.message);

      gate.tokenRequests = [];
      const id = await fx.images.pull(ref, { auth: { username: "alice", password: "s3cret" } });
      assertEquals(id, img.config.digest);
      // One token for manifest, config and both layers: cached until it expires.
      assertEquals(gate.tokenRequests, ["repository:team/app:pull"]);

      // A registry_token goes straight to the registry, without the token service.
      const fx2 = await ImageFixture.create();
      try {
        gate.tokenRequests = [];
        const id2 = await fx2.images.pull(ref, {
          auth: { registry_token: "tok|repository:team/app:pull" },
        });
        assertEquals(id2, img.config.digest);
        assertEquals(gate.tokenRequests, []);
        fx2.images.remove(id2);
        // An identity token is exchanged with the OAuth2 refresh-token grant.
        const id3 = await fx2.images.pull(ref, { auth: { identity_token: "refresh-ok" } });
        assertEquals(id3, img.config.digest);
        assertEquals(gate.tokenRequests, ["refresh:repository:team/app:pull"]);
      } finally {
        await fx2.dispose();
      }
    } finally {
      await fx.dispose();
      await gate.close();
      await registry.stop();
    }
  },
});
