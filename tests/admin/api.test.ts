/**
 * The admin REST API through Hono's app.request(), over a CRI handler map standing in for
 * the domain services (the routes only translate; what they call is the CriHandlers seam).
 * Live-socket and real-Skiff checks are in live.test.ts.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./assert.ts";
import { createAdminApp } from "../../admin/app.ts";
import type { AuditEntry } from "../../admin/mod.ts";
import { FailedPreconditionError, NotFoundError } from "../../core/errors.ts";
import { MetricsRegistry } from "../../core/metrics.ts";
import type { CriHandlers, Req } from "../../cri/handler.ts";
import { nanos } from "../../cri/handler.ts";

const TOKEN = "t0ken-for-tests";
const auth = { authorization: `Bearer ${TOKEN}` };

interface Fixture {
  handlers: CriHandlers;
  seen: Record<string, unknown[]>;
  logPath: string;
  dir: string;
}

async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "skiff-test-admin-" });
  const logPath = `${dir}/c1.log`;
  const seen: Record<string, unknown[]> = {};
  const note = (m: string, r: unknown) => (seen[m] ??= []).push(r);
  const created = nanos(Date.now() - 60_000);
  const pods = [
    {
      id: "pod1",
      metadata: { name: "web", namespace: "default", uid: "u1", attempt: 0 },
      state: "SANDBOX_READY" as const,
      created_at: created,
      labels: { app: "web" },
    },
    {
      id: "pod2",
      metadata: { name: "old", namespace: "kube-system", uid: "u2", attempt: 1 },
      state: "SANDBOX_NOTREADY" as const,
      created_at: created,
      labels: {},
    },
  ];
  const handlers: CriHandlers = {
    Version: async () => ({ version: "0.1.0", runtime_name: "skiff", runtime_version: "t" }),
    ListPodSandbox: async (req: Req<"ListPodSandbox">) => {
      note("ListPodSandbox", req);
      const want = req.filter?.state?.state;
      return { items: pods.filter((p) => !req.filter?.state || p.state === want) };
    },
    PodSandboxStatus: async (req) => {
      const p = pods.find((x) => x.id === req.pod_sandbox_id);
      if (!p) throw new NotFoundError(`pod sandbox ${req.pod_sandbox_id} not found`);
      return { status: { ...p, network: { ip: "10.1.0.5", additional_ips: [] } } };
    },
    ListContainers: async (req) => {
      note("ListContainers", req);
      return {
        containers: [{
          id: "c1",
          pod_sandbox_id: "pod1",
          metadata: { name: "nginx", attempt: 2 },
          image: { image: "nginx:1" },
          state: "CONTAINER_RUNNING",
          created_at: created,
          annotations: { "io.kubernetes.container.restartCount": "3" },
        }],
      };
    },
    ContainerStatus: async (req) => {
      if (req.container_id !== "c1") {
        throw new NotFoundError(`container ${req.container_id} not found`);
      }
      return { status: { id: "c1", state: "CONTAINER_RUNNING", log_path: logPath } };
    },
    ListImages: async (req) => {
      note("ListImages", req);
      return {
        images: [{ id: "sha256:aa", repo_tags: ["busybox:latest"], size: "1234" }],
      };
    },
    ImageStatus: async (req) =>
      req.image?.image === "127.0.0.1:5000/team/app:v1"
        ? { image: { id: "sha256:bb", repo_tags: [req.image.image], size: "99" } }
        : {},
    RemoveImage: async (req) => {
      if (req.image?.image === "busy") {
        throw new FailedPreconditionError("image busy is used by container c1; remove it first");
      }
      return {};
    },
    PullImage: async (req) => {
      await new Promise((r) => setTimeout(r, 1200));
      return { image_ref: `sha256:${req.image?.image === "busybox" ? "cc" : "dd"}` };
    },
    ExecSync: async (req) => ({
      stdout: new TextEncoder().encode(req.cmd.join(" ") + "\n"),
      exit_code: 0,
    }),
    GetContainerEvents: async (_req, ctx, send) => {
      await send({
        container_id: "c1",
        container_event_type: "CONTAINER_STARTED_EVENT",
        created_at: nanos(Date.now()),
        pod_sandbox_status: { id: "pod1" },
      });
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve()));
    },
  };
  return { handlers, seen, logPath, dir };
}

function app(f: Fixture, extra: Partial<Parameters<typeof createAdminApp>[0]> = {}) {
  return createAdminApp({
    metrics: new MetricsRegistry(),
    token: TOKEN,
    metricsRequireToken: false,
    ready: () => ({ ready: true, checks: {} }),
    handlers: f.handlers,
    ...extra,
  });
}

/** Reads a streamed body until `done(text)` says enough, then cancels it. */
async function readUntil(
  res: Response,
  done: (text: string) => boolean,
  timeoutMs = 8000,
): Promise<string> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!done(text)) {
      if (Date.now() > deadline) throw new Error(`timed out; got so far:\n${text}`);
      const r = await Promise.race([
        reader.read(),
        new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now())),
      ]);
      if (r === null) continue;
      if (r.done) break;
      text += dec.decode(r.value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}

function logLine(text: string, stream = "stdout", tag = "F", at = new Date()): string {
  return `${at.toISOString().replace("Z", "123456Z")} ${stream} ${tag} ${text}\n`;
}

Deno.test("admin: token required under /api, not for health, readiness or the dashboard", async () => {
  const f = await fixture();
  try {
    const a = app(f);
    for (
      const headers of [{}, { authorization: "Bearer wrong" }, { authorization: TOKEN }] as Record<
        string,
        string
      >[]
    ) {
      const res = await a.request("/api/v1/pods", { headers });
      assertEquals(res.status, 401);
      const body = await res.json();
      assertEquals(body.code, "UNAUTHENTICATED");
      assertEquals(res.headers.get("www-authenticate"), 'Bearer realm="skiff"');
    }
    assertEquals((await a.request("/healthz")).status, 200);
    assertEquals((await a.request("/readyz")).status, 200);
    assertEquals((await a.request("/metrics")).status, 200);
    const page = await a.request("/");
    assertEquals(page.status, 200);
    assertStringIncludes(page.headers.get("content-security-policy") ?? "", "default-src 'self'");
    assertEquals((await a.request("/api/v1/pods", { headers: auth })).status, 200);
    // Counted by route pattern, not by raw path.
    await (await a.request("/api/v1/containers/c1", { headers: auth })).body?.cancel();
    const metrics = await (await a.request("/metrics")).text();
    assertStringIncludes(
      metrics,
      'skiff_admin_requests_total{method="GET",route="/api/v1/pods",status="200"} 1',
    );
    assertStringIncludes(metrics, 'route="/api/v1/containers/:id",status="200"');
    const strict = app(f, { metricsRequireToken: true });
    assertEquals((await strict.request("/metrics")).status, 401);
    assertEquals((await strict.request("/metrics", { headers: auth })).status, 200);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("admin: a CRI handler not built yet is a 501 problem naming the RPC", async () => {
  const a = createAdminApp({
    metrics: new MetricsRegistry(),
    token: TOKEN,
    metricsRequireToken: false,
    ready: () => ({ ready: true, checks: {} }),
    handlers: {},
  });
  for (
    const [path, rpc] of [["/api/v1/pods", "ListPodSandbox"], ["/api/v1/images", "ListImages"]]
  ) {
    const res = await a.request(path, { headers: auth });
    assertEquals(res.status, 501);
    assertEquals(res.headers.get("content-type"), "application/problem+json");
    const p = await res.json();
    assertEquals(p.code, "UNIMPLEMENTED");
    assertStringIncludes(p.detail, rpc);
  }
  const ev = await a.request("/api/v1/events", { headers: auth });
  assertEquals(ev.status, 501);
  assertStringIncludes((await ev.json()).detail, "GetContainerEvents");
  // The node summary degrades instead of failing, saying what is missing.
  const node = await a.request("/api/v1/node", { headers: auth });
  assertEquals(node.status, 200);
  const n = await node.json();
  assertEquals(n.counts.pods, null);
  assertStringIncludes(n.unavailable.ListPodSandbox, "not implemented");
  assert(n.host.memoryTotalBytes > 0);
});

Deno.test("admin: pods and containers lists pass filters as CRI requests and add views", async () => {
  const f = await fixture();
  try {
    const a = app(f);
    const res = await a.request("/api/v1/pods?state=ready&label=app=web", { headers: auth });
    assertEquals(res.status, 200);
    const body = await res.json();
    assertEquals(body.items.length, 1);
    assertEquals(body.items[0].name, "web");
    assertEquals(body.items[0].ips, ["10.1.0.5"]);
    assertMatch(body.items[0].created, /^\d{4}-\d\d-\d\dT/);
    // The handler saw a complete, wire-shaped request.
    const req = f.seen.ListPodSandbox[0] as Req<"ListPodSandbox">;
    assertEquals(req.filter?.state?.state, "SANDBOX_READY");
    assertEquals(req.filter?.label_selector, { app: "web" });
    assertEquals(req.filter?.id, "");

    const bad = await a.request("/api/v1/pods?state=sleepy", { headers: auth });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).code, "INVALID_ARGUMENT");

    const cs = await (await a.request("/api/v1/containers?state=running&pod=pod1", {
      headers: auth,
    })).json();
    const creq = f.seen.ListContainers[0] as Req<"ListContainers">;
    assertEquals(creq.filter?.state?.state, "CONTAINER_RUNNING");
    assertEquals(creq.filter?.pod_sandbox_id, "pod1");
    const c = cs.containers[0];
    assertEquals(
      [c.name, c.pod_name, c.pod_namespace, c.restart_count, c.ips, c.image_name],
      ["nginx", "web", "default", 3, ["10.1.0.5"], "nginx:1"],
    );
    // created_at stays the CRI's int64-as-string, like gRPC clients see it.
    assertEquals(typeof c.created_at, "string");

    const missing = await a.request("/api/v1/containers/nope", { headers: auth });
    assertEquals(missing.status, 404);
    assertEquals((await missing.json()).code, "NOT_FOUND");
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("admin: images inspect (404 when absent), remove conflicts as 409", async () => {
  const f = await fixture();
  try {
    const a = app(f);
    const list = await (await a.request("/api/v1/images?name=busybox", { headers: auth })).json();
    assertEquals(list.total_bytes, 1234);
    assertEquals(
      (f.seen.ListImages[0] as Req<"ListImages">).filter?.image?.image,
      "busybox",
    );
    const ok = await a.request(`/api/v1/images/127.0.0.1:5000/team/app:v1`, { headers: auth });
    assertEquals(ok.status, 200);
    assertEquals((await ok.json()).image.size_bytes, 99);
    const absent = await a.request("/api/v1/images/nothing:here", { headers: auth });
    assertEquals(absent.status, 404);
    const busy = await a.request("/api/v1/images/busy", { method: "DELETE", headers: auth });
    assertEquals(busy.status, 409);
    const p = await busy.json();
    assertEquals([p.code, p.title], ["FAILED_PRECONDITION", "Conflict"]);
    const gone = await a.request("/api/v1/images/other", { method: "DELETE", headers: auth });
    assertEquals(gone.status, 200);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("admin: logs tail and since, and follow survives a rotation", async () => {
  const f = await fixture();
  try {
    const a = app(f);
    const old = new Date(Date.now() - 3_600_000);
    await Deno.writeTextFile(
      f.logPath,
      logLine("ancient", "stdout", "F", old) + logLine("one") + logLine("two", "stderr") +
        logLine("par", "stdout", "P") + logLine("tial") + "2026-bad line\n",
    );
    const all = await (await a.request("/api/v1/containers/c1/logs", { headers: auth })).text();
    assertEquals(all, "ancient\none\ntwo\npartial\n");
    const tail = await (await a.request("/api/v1/containers/c1/logs?tail=2", { headers: auth }))
      .text();
    assertEquals(tail, "partial\n");
    const since = await (await a.request("/api/v1/containers/c1/logs?since=10m", {
      headers: auth,
    })).text();
    assertEquals(since, "one\ntwo\npartial\n");
    const json = await (await a.request("/api/v1/containers/c1/logs?tail=1&format=json", {
      headers: auth,
    })).text();
    assertEquals(JSON.parse(json.trim()).log, "tial");

    const ac = new AbortController();
    const res = await a.request("/api/v1/containers/c1/logs?follow=1&tail=1", {
      headers: auth,
      signal: ac.signal,
    });
    const reading = readUntil(res, (t) => t.includes("after-rotation"));
    await new Promise((r) => setTimeout(r, 300));
    await Deno.writeTextFile(f.logPath, logLine("before-rotation"), { append: true });
    await new Promise((r) => setTimeout(r, 300));
    // What kubelet does: rename, then ReopenContainerLog makes conmon create a new file.
    await Deno.writeTextFile(f.logPath, logLine("last-in-old-file"), { append: true });
    await Deno.rename(f.logPath, `${f.logPath}.20260101-000000`);
    await new Promise((r) => setTimeout(r, 300));
    await Deno.writeTextFile(f.logPath, logLine("after-rotation"));
    const text = await reading;
    ac.abort();
    assertEquals(text, "tial\nbefore-rotation\nlast-in-old-file\nafter-rotation\n");
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("admin: events and pull progress stream as Server-Sent Events", async () => {
  const f = await fixture();
  try {
    const a = app(f);
    const ac = new AbortController();
    const ev = await a.request("/api/v1/events", { headers: auth, signal: ac.signal });
    assertEquals(ev.status, 200);
    assertStringIncludes(ev.headers.get("content-type") ?? "", "text/event-stream");
    const text = await readUntil(ev, (t) => t.includes("event: container"));
    ac.abort();
    const data = JSON.parse(text.split("event: container\ndata: ")[1].split("\n")[0]);
    assertEquals(data.container_event_type, "CONTAINER_STARTED_EVENT");
    assertEquals(data.pod_sandbox_id, "pod1");

    const pull = await a.request("/api/v1/images/pull", {
      method: "POST",
      headers: { ...auth, accept: "text/event-stream", "content-type": "application/json" },
      body: JSON.stringify({ image: "busybox" }),
    });
    const ptext = await readUntil(pull, (t) => t.includes("event: done"));
    assertStringIncludes(ptext, 'event: status\ndata: {"image":"busybox","phase":"pulling"');
    assertStringIncludes(ptext, '"image_ref":"sha256:cc"');
    // Without Accept: text/event-stream, the reply comes when the pull is complete.
    const plain = await a.request("/api/v1/images/pull", {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ image: "x" }),
    });
    assertEquals(await plain.json(), { image: "x", image_ref: "sha256:dd" });
    const bad = await a.request("/api/v1/images/pull", {
      method: "POST",
      headers: auth,
      body: "{",
    });
    assertEquals(bad.status, 400);
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("admin: request size limit, CORS only when configured, exec is audited", async () => {
  const f = await fixture();
  try {
    const audit: AuditEntry[] = [];
    const a = app(f, { maxBodyBytes: 1024, audit: { record: async (e) => void audit.push(e) } });
    const big = await a.request("/api/v1/images/pull", {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ image: "x".repeat(4096) }),
    });
    assertEquals(big.status, 413);
    const origin = { ...auth, origin: "https://ops.example" };
    const none = await a.request("/api/v1/pods", { headers: origin });
    assertEquals(none.headers.get("access-control-allow-origin"), null);
    const withCors = app(f, { corsOrigins: ["https://ops.example"] });
    const yes = await withCors.request("/api/v1/pods", { headers: origin });
    assertEquals(yes.headers.get("access-control-allow-origin"), "https://ops.example");

    const ex = await a.request("/api/v1/containers/c1/exec_sync", {
      method: "POST",
      headers: { ...auth, "user-agent": "test-agent" },
      body: JSON.stringify({ cmd: ["echo", "hi"] }),
    });
    assertEquals(await ex.json(), { exit_code: 0, stdout: "echo hi\n", stderr: "" });
    assertEquals(audit.length, 1);
    assertEquals(
      [audit[0].action, audit[0].target, audit[0].command, audit[0].userAgent],
      ["exec_sync", "c1", ["echo", "hi"], "test-agent"],
    );
  } finally {
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("admin: over a real socket, a client that goes away stops the CRI stream", async () => {
  const aborted = Promise.withResolvers<void>();
  const a = createAdminApp({
    metrics: new MetricsRegistry(),
    token: TOKEN,
    metricsRequireToken: false,
    ready: () => ({ ready: true, checks: {} }),
    handlers: {
      GetContainerEvents: async (_req, ctx) => {
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener("abort", () => resolve(), { once: true })
        );
        aborted.resolve();
      },
    },
  });
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    a.fetch,
  );
  try {
    const client = new AbortController();
    const res = await fetch(
      `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/api/v1/events`,
      {
        headers: auth,
        signal: client.signal,
      },
    );
    await readUntil(res, (t) => t.includes("event: ready"));
    client.abort();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<string>((r) => timer = setTimeout(() => r("still running"), 5000));
    const outcome = await Promise.race([aborted.promise.then(() => "stopped"), timeout]);
    clearTimeout(timer);
    assertEquals(outcome, "stopped");
  } finally {
    ac.abort();
    await server.finished;
  }
});

Deno.test("admin: pull progress from the image service's tracker reports changes per layer", async () => {
  const { pullProgressFrom } = await import("../../admin/mod.ts");
  const layers = [
    { digest: "sha256:a", total: 100, done: 0, complete: false },
    { digest: "sha256:b", total: 50, done: 0, complete: false },
  ];
  const active = [{ image: "docker.io/library/busybox:latest", layers }];
  const events: string[] = [];
  const source = pullProgressFrom({ active: () => structuredClone(active) }, 10);
  // A short name matches the tracker's normalised reference.
  const stop = source.watch("busybox", (e) => events.push(`${e.digest} ${e.phase} ${e.bytesDone}`));
  await new Promise((r) => setTimeout(r, 30));
  layers[0].done = 40;
  await new Promise((r) => setTimeout(r, 30));
  layers[0].done = 100;
  layers[0].complete = true;
  layers[1].done = 50;
  layers[1].complete = true;
  await new Promise((r) => setTimeout(r, 30));
  stop();
  assertEquals(events, [
    "sha256:a waiting 0",
    "sha256:b waiting 0",
    "sha256:a downloading 40",
    "sha256:a done 100",
    "sha256:b done 50",
  ]);
  const other = pullProgressFrom({ active: () => structuredClone(active) }, 10);
  const none: unknown[] = [];
  other.watch("alpine", (e) => none.push(e))();
  assertEquals(none, []);
});
