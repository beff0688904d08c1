/**
 * REST under /api/v1: pods, containers, images, logs, events, pulls and the node summary.
 * Every route is a thin translation onto the in-process CRI handlers (LocalCri): no state
 * here, no domain logic, and a route whose handler is not built yet answers 501 naming it.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { InvalidArgumentError, NotFoundError } from "../core/errors.ts";
import type { Logger } from "../core/log.ts";
import type {
  Container,
  ContainerState,
  ContainerStatus,
  Image,
  PodSandbox,
  PodSandboxState,
  PodSandboxStatus,
} from "../cri/types.ts";
import type { AuditEntry, AuditSink } from "./audit.ts";
import { HostSampler } from "./host.ts";
import type { LocalCri } from "./local_cri.ts";
import { type CriLogEntry, followLog, formatEntry, parseSince, readLog } from "./logs.ts";
import { problemFromError, problemResponse } from "./problem.ts";
import { clientGone, sseResponse, streamedResponse, textErrorTrailer } from "./stream.ts";
import { registerWebSocketRoutes } from "./ws.ts";

/** Per-layer progress of a pull, if the image service reports it. */
export interface PullProgressEvent {
  /** Layer (or config/manifest) digest. */
  digest: string;
  /** e.g. "waiting", "downloading", "verifying", "extracting", "done". */
  phase: string;
  bytesDone: number;
  /** 0 when unknown. */
  bytesTotal: number;
}

/**
 * Optional hook into the image service: progress of in-flight pulls of a reference. Without
 * it, pull streams carry status events (started, still pulling + elapsed, done or error).
 */
export interface PullProgressSource {
  watch(image: string, onEvent: (e: PullProgressEvent) => void): () => void;
}

export interface ApiDeps {
  cri: LocalCri;
  audit?: AuditSink;
  pullProgress?: PullProgressSource;
  log?: Logger;
}

const CAPABILITY_RPCS = [
  "ListPodSandbox",
  "PodSandboxStatus",
  "StopPodSandbox",
  "RemovePodSandbox",
  "ListContainers",
  "ContainerStatus",
  "StopContainer",
  "RemoveContainer",
  "ContainerStats",
  "ListContainerStats",
  "ExecSync",
  "Exec",
  "Attach",
  "PortForward",
  "ListImages",
  "ImageStatus",
  "PullImage",
  "RemoveImage",
  "ImageFsInfo",
  "GetContainerEvents",
] as const;

const POD_STATES: Record<string, PodSandboxState> = {
  ready: "SANDBOX_READY",
  notready: "SANDBOX_NOTREADY",
  sandbox_ready: "SANDBOX_READY",
  sandbox_notready: "SANDBOX_NOTREADY",
};

const CONTAINER_STATES: Record<string, ContainerState> = {
  created: "CONTAINER_CREATED",
  running: "CONTAINER_RUNNING",
  exited: "CONTAINER_EXITED",
  unknown: "CONTAINER_UNKNOWN",
};

/** `label=k=v` (repeatable) → a CRI label selector. */
function labelSelector(c: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of c.req.queries("label") ?? []) {
    const i = l.indexOf("=");
    if (i <= 0) throw new InvalidArgumentError(`label ${JSON.stringify(l)}: expected key=value`);
    out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

function stateParam<T extends string>(
  c: Context,
  table: Record<string, T>,
  what: string,
): T | undefined {
  const v = c.req.query("state");
  if (v === undefined || v === "") return undefined;
  const s = table[v.toLowerCase()] ?? (Object.values(table).includes(v as T) ? v as T : undefined);
  if (!s) {
    throw new InvalidArgumentError(
      `state ${JSON.stringify(v)}: expected one of ${Object.keys(table).join(", ")} (${what})`,
    );
  }
  return s;
}

function intParam(c: Context, name: string, min = 0): number | undefined {
  const v = c.req.query(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    throw new InvalidArgumentError(`${name} ${JSON.stringify(v)}: expected an integer >= ${min}`);
  }
  return n;
}

function boolParam(c: Context, name: string): boolean {
  const v = c.req.query(name);
  return v !== undefined && v !== "0" && v !== "false";
}

/** CRI nanosecond timestamps → ISO time (null for 0 = never). */
export function isoFromNanos(ns: string | number | undefined): string | null {
  if (ns === undefined) return null;
  const n = BigInt(ns);
  if (n <= 0n) return null;
  return new Date(Number(n / 1_000_000n)).toISOString();
}

function restartCount(
  c: { annotations: Record<string, string>; metadata?: { attempt: number } | null },
): number {
  const a = c.annotations["io.kubernetes.container.restartCount"];
  return a !== undefined && /^\d+$/.test(a) ? Number(a) : c.metadata?.attempt ?? 0;
}

type PodWithIps = PodSandbox & { ips: string[]; host_network: boolean };

function isHostNetwork(s: PodSandboxStatus | null | undefined): boolean {
  return s?.linux?.namespaces?.options?.network === "NODE";
}

function podIps(s: PodSandboxStatus | null | undefined): string[] {
  const net = s?.network;
  if (!net) return [];
  return [net.ip, ...net.additional_ips.map((i) => i.ip)].filter((ip) => ip);
}

/** The peer's address: under Deno.serve, Hono's env is the ServeHandlerInfo. */
function remoteOf(c: Context): string {
  const addr = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr;
  return addr ? `${addr.hostname}:${addr.port}` : "unknown";
}

function audited(c: Context, entry: Omit<AuditEntry, "remote" | "userAgent">): AuditEntry {
  return { ...entry, remote: remoteOf(c), userAgent: c.req.header("user-agent") ?? "" };
}

async function jsonBody<T>(c: Context): Promise<T> {
  try {
    return await c.req.json<T>();
  } catch {
    throw new InvalidArgumentError("the request body must be a JSON object");
  }
}

export function createApi(deps: ApiDeps): Hono {
  const { cri } = deps;
  const api = new Hono();
  const host = new HostSampler();

  api.onError((err) => problemResponse(problemFromError(err)));
  api.notFound((c) =>
    problemResponse({
      type: "about:blank",
      title: "Not Found",
      status: 404,
      code: "NOT_FOUND",
      detail: `no admin API route ${c.req.method} ${c.req.path}; see GET /api/v1`,
    })
  );

  api.get("/", (c) =>
    c.json({
      routes: [
        "GET /api/v1/node",
        "GET /api/v1/node/stats",
        "GET /api/v1/pods?state=&label=k=v&id=",
        "GET|DELETE /api/v1/pods/:id",
        "POST /api/v1/pods/:id/stop",
        "GET /api/v1/containers?state=&pod=&label=k=v&id=&name=",
        "GET|DELETE /api/v1/containers/:id (DELETE ?force=1 stops first)",
        "POST /api/v1/containers/:id/stop?timeout=",
        "GET /api/v1/containers/:id/logs?tail=&since=&follow=1&timestamps=1&format=json",
        "GET /api/v1/containers/:id/stats",
        "POST /api/v1/containers/:id/exec_sync {cmd, timeout_seconds}",
        "GET (WebSocket) /api/v1/containers/:id/exec?command=…&tty=1&stdin=1",
        "GET (WebSocket) /api/v1/containers/:id/attach?tty=1&stdin=1",
        "GET (WebSocket) /api/v1/pods/:id/portforward?ports=80",
        "GET /api/v1/images?name=",
        "GET|DELETE /api/v1/images/:ref",
        "POST /api/v1/images/pull {image, auth} (Accept: text/event-stream for progress)",
        "GET /api/v1/events (text/event-stream)",
      ],
    }));

  // ------------------------------------------------------------------------------- pods

  const podStatus = async (id: string, signal?: AbortSignal) => {
    try {
      return (await cri.call("PodSandboxStatus", { pod_sandbox_id: id }, signal)).status ?? null;
    } catch {
      return null;
    }
  };

  const podView = (p: PodSandbox, status: PodSandboxStatus | null) => ({
    ...p,
    name: p.metadata?.name ?? "",
    namespace: p.metadata?.namespace ?? "",
    uid: p.metadata?.uid ?? "",
    attempt: p.metadata?.attempt ?? 0,
    created: isoFromNanos(p.created_at),
    ips: podIps(status),
    host_network: isHostNetwork(status),
  });

  api.get("/pods", async (c) => {
    const state = stateParam(c, POD_STATES, "pod state");
    const res = await cri.call("ListPodSandbox", {
      filter: {
        id: c.req.query("id") ?? "",
        state: state ? { state } : null,
        label_selector: labelSelector(c),
      },
    }, clientGone(c));
    const ns = c.req.query("namespace");
    const items = ns ? res.items.filter((p) => p.metadata?.namespace === ns) : res.items;
    const withStatus = cri.has("PodSandboxStatus");
    const views = await Promise.all(
      items.map(async (p) => podView(p, withStatus ? await podStatus(p.id) : null)),
    );
    views.sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
    return c.json({ items: views });
  });

  api.get("/pods/:id", async (c) => {
    const id = c.req.param("id");
    const res = await cri.call(
      "PodSandboxStatus",
      { pod_sandbox_id: id, verbose: true },
      clientGone(c),
    );
    let containers: Container[] = [];
    if (cri.has("ListContainers")) {
      containers = (await cri.call("ListContainers", { filter: { pod_sandbox_id: id } }))
        .containers;
    }
    return c.json({
      ...res,
      ips: podIps(res.status),
      created: isoFromNanos(res.status?.created_at),
      containers: containers.map((ct) => containerView(ct, null)),
    });
  });

  api.post("/pods/:id/stop", async (c) => {
    await cri.call("StopPodSandbox", { pod_sandbox_id: c.req.param("id") }, clientGone(c));
    return c.json({ stopped: c.req.param("id") });
  });

  api.delete("/pods/:id", async (c) => {
    const id = c.req.param("id");
    // As crictl rmp -f does: stop first (idempotent), then remove.
    if (boolParam(c, "force")) await cri.call("StopPodSandbox", { pod_sandbox_id: id });
    await cri.call("RemovePodSandbox", { pod_sandbox_id: id }, clientGone(c));
    return c.json({ removed: id });
  });

  // --------------------------------------------------------------------------- containers

  const containerView = (ct: Container, pod: PodWithIps | null) => ({
    ...ct,
    name: ct.metadata?.name ?? "",
    attempt: ct.metadata?.attempt ?? 0,
    restart_count: restartCount(ct),
    created: isoFromNanos(ct.created_at),
    image_name: ct.image?.image ?? "",
    pod_name: pod?.metadata?.name ?? ct.labels["io.kubernetes.pod.name"] ?? "",
    pod_namespace: pod?.metadata?.namespace ?? ct.labels["io.kubernetes.pod.namespace"] ?? "",
    ips: pod?.ips ?? [],
    host_network: pod?.host_network ?? false,
  });

  api.get("/containers", async (c) => {
    const state = stateParam(c, CONTAINER_STATES, "container state");
    const res = await cri.call("ListContainers", {
      filter: {
        id: c.req.query("id") ?? "",
        pod_sandbox_id: c.req.query("pod") ?? "",
        state: state ? { state } : null,
        label_selector: labelSelector(c),
      },
    }, clientGone(c));
    const name = c.req.query("name");
    const list = name
      ? res.containers.filter((ct) => (ct.metadata?.name ?? "").includes(name))
      : res.containers;
    // Pod names and IPs, looked up once per pod.
    const pods = new Map<string, PodWithIps | null>();
    if (cri.has("ListPodSandbox")) {
      const all = (await cri.call("ListPodSandbox", {})).items;
      const byId = new Map(all.map((p) => [p.id, p]));
      for (const id of new Set(list.map((ct) => ct.pod_sandbox_id))) {
        const p = byId.get(id);
        const st = p && cri.has("PodSandboxStatus") ? await podStatus(id) : null;
        pods.set(id, p ? { ...p, ips: podIps(st), host_network: isHostNetwork(st) } : null);
      }
    }
    const items = list.map((ct) => containerView(ct, pods.get(ct.pod_sandbox_id) ?? null));
    items.sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
    return c.json({ containers: items });
  });

  const containerStatus = async (id: string, signal?: AbortSignal): Promise<ContainerStatus> => {
    const res = await cri.call("ContainerStatus", { container_id: id }, signal);
    if (!res.status) throw new NotFoundError(`container ${JSON.stringify(id)} not found`);
    return res.status;
  };

  api.get("/containers/:id", async (c) => {
    const res = await cri.call(
      "ContainerStatus",
      { container_id: c.req.param("id"), verbose: true },
      clientGone(c),
    );
    const s = res.status;
    return c.json({
      ...res,
      restart_count: s ? restartCount(s) : 0,
      created: isoFromNanos(s?.created_at),
      started: isoFromNanos(s?.started_at),
      finished: isoFromNanos(s?.finished_at),
    });
  });

  api.post("/containers/:id/stop", async (c) => {
    const timeout = intParam(c, "timeout") ?? 10;
    await cri.call("StopContainer", { container_id: c.req.param("id"), timeout: String(timeout) });
    return c.json({ stopped: c.req.param("id") });
  });

  api.delete("/containers/:id", async (c) => {
    const id = c.req.param("id");
    if (boolParam(c, "force")) await cri.call("StopContainer", { container_id: id, timeout: "0" });
    await cri.call("RemoveContainer", { container_id: id }, clientGone(c));
    return c.json({ removed: id });
  });

  api.get("/containers/:id/stats", async (c) => {
    const res = await cri.call("ContainerStats", { container_id: c.req.param("id") });
    return c.json(res);
  });

  api.post("/containers/:id/exec_sync", async (c) => {
    const id = c.req.param("id");
    const body = await jsonBody<{ cmd?: unknown; timeout_seconds?: unknown }>(c);
    if (
      !Array.isArray(body.cmd) || body.cmd.length === 0 ||
      !body.cmd.every((x) => typeof x === "string")
    ) {
      throw new InvalidArgumentError('"cmd" must be a non-empty array of strings');
    }
    const timeout = typeof body.timeout_seconds === "number" ? body.timeout_seconds : 0;
    await deps.audit?.record(audited(c, { action: "exec_sync", target: id, command: body.cmd }));
    const res = await cri.call("ExecSync", {
      container_id: id,
      cmd: body.cmd,
      timeout: String(Math.max(0, Math.floor(timeout))),
    }, clientGone(c));
    const dec = new TextDecoder();
    return c.json({
      exit_code: res.exit_code,
      stdout: dec.decode(res.stdout),
      stderr: dec.decode(res.stderr),
    });
  });

  api.get("/containers/:id/logs", async (c) => {
    const id = c.req.param("id");
    const tail = intParam(c, "tail");
    const sinceRaw = c.req.query("since");
    let sinceMs: number | undefined;
    if (sinceRaw) {
      const t = parseSince(sinceRaw);
      if (t === null) {
        throw new InvalidArgumentError(
          `since ${JSON.stringify(sinceRaw)}: expected an RFC 3339 time or a duration like 5m`,
        );
      }
      sinceMs = t;
    }
    const follow = boolParam(c, "follow");
    const timestamps = boolParam(c, "timestamps");
    const json = c.req.query("format") === "json";
    const status = await containerStatus(id, clientGone(c));
    if (!status.log_path) {
      throw new NotFoundError(
        `container ${id} has no log file (it was created without a log path)`,
      );
    }
    const render = (e: CriLogEntry) => json ? JSON.stringify(e) + "\n" : formatEntry(e, timestamps);
    return streamedResponse(
      clientGone(c),
      { "content-type": json ? "application/x-ndjson" : "text/plain; charset=utf-8" },
      async (write, signal) => {
        const first = await readLog(status.log_path, { tail, sinceMs });
        for (const e of first.entries) await write(render(e));
        if (!follow) return;
        for await (
          const e of followLog(status.log_path, {
            offset: first.offset,
            ino: first.ino,
            signal,
            sinceMs,
          })
        ) await write(render(e));
      },
      async (err, write) => {
        await write(
          json ? JSON.stringify({ error: problemFromError(err) }) + "\n" : textErrorTrailer(err),
        );
      },
    );
  });

  // ------------------------------------------------------------------------------- images

  const imageView = (i: Image) => ({
    ...i,
    size_bytes: Number(i.size),
    tags: i.repo_tags,
  });

  api.get("/images", async (c) => {
    const name = c.req.query("name");
    const res = await cri.call(
      "ListImages",
      { filter: name ? { image: { image: name } } : null },
      clientGone(c),
    );
    const images = res.images.map(imageView);
    return c.json({ images, total_bytes: images.reduce((a, i) => a + i.size_bytes, 0) });
  });

  api.post("/images/pull", async (c) => {
    const body = await jsonBody<{ image?: unknown; auth?: Record<string, string> }>(c);
    if (typeof body.image !== "string" || body.image.trim() === "") {
      throw new InvalidArgumentError('"image" must be an image reference, e.g. "busybox:latest"');
    }
    const image = body.image.trim();
    const auth = body.auth && typeof body.auth === "object" ? body.auth : null;
    const wantsStream = (c.req.header("accept") ?? "").includes("text/event-stream") ||
      boolParam(c, "stream");
    const pull = (signal?: AbortSignal) =>
      cri.call("PullImage", { image: { image }, auth }, signal);
    if (!wantsStream) {
      const res = await pull(clientGone(c));
      return c.json({ image, image_ref: res.image_ref });
    }
    if (!cri.has("PullImage")) await pull(); // a 501 problem before the stream starts
    return sseResponse(clientGone(c), async ({ send, signal }) => {
      const started = Date.now();
      await send("status", { image, phase: "pulling", elapsed_ms: 0 });
      let unwatch = deps.pullProgress?.watch(image, (e) => {
        send("progress", { image, ...e }).catch(() => {});
      });
      const tick = setInterval(() => {
        send("status", { image, phase: "pulling", elapsed_ms: Date.now() - started })
          .catch(() => {});
      }, 1000);
      const stopWatching = () => {
        clearInterval(tick);
        unwatch?.();
        unwatch = undefined;
      };
      try {
        const res = await pull(signal);
        stopWatching(); // no progress event after `done`
        let info: Image | null = null;
        if (cri.has("ImageStatus")) {
          info = (await cri.call("ImageStatus", { image: { image: res.image_ref } })).image ?? null;
        }
        await send("done", {
          image,
          image_ref: res.image_ref,
          elapsed_ms: Date.now() - started,
          size_bytes: info ? Number(info.size) : null,
        });
      } finally {
        stopWatching();
      }
    });
  });

  api.get("/images/:ref{.+}", async (c) => {
    const ref = c.req.param("ref");
    const res = await cri.call(
      "ImageStatus",
      { image: { image: ref }, verbose: true },
      clientGone(c),
    );
    // CRI answers an empty reply for a missing image; REST says 404.
    if (!res.image) throw new NotFoundError(`image ${JSON.stringify(ref)} is not present`);
    return c.json({ ...res, image: imageView(res.image) });
  });

  api.delete("/images/:ref{.+}", async (c) => {
    const ref = c.req.param("ref");
    await cri.call("RemoveImage", { image: { image: ref } }, clientGone(c));
    return c.json({ removed: ref });
  });

  registerWebSocketRoutes(api, { cri, audit: deps.audit, log: deps.log, remote: remoteOf });

  // ------------------------------------------------------------------------------- events

  api.get("/events", async (c) => {
    if (!cri.has("GetContainerEvents")) {
      // Fails with the 501 problem before any byte of the stream is sent.
      await cri.stream("GetContainerEvents", {}).next();
    }
    return sseResponse(clientGone(c), async ({ send, signal }) => {
      await send("ready", { at: new Date().toISOString() });
      for await (const ev of cri.stream("GetContainerEvents", {}, signal)) {
        await send("container", {
          ...ev,
          created: isoFromNanos(ev.created_at),
          pod_sandbox_id: ev.pod_sandbox_status?.id ?? "",
        });
      }
    });
  });

  // --------------------------------------------------------------------------------- node

  api.get("/node", async (c) => {
    const unavailable: Record<string, string> = {};
    const attempt = async <T>(name: string, f: () => Promise<T>): Promise<T | null> => {
      try {
        return await f();
      } catch (err) {
        unavailable[name] = problemFromError(err).detail;
        return null;
      }
    };
    const [version, status, pods, containers, images, fs, stats, hostSample] = await Promise
      .all([
        attempt("Version", () => cri.call("Version", {})),
        attempt("Status", () => cri.call("Status", {})),
        attempt("ListPodSandbox", () => cri.call("ListPodSandbox", {})),
        attempt("ListContainers", () => cri.call("ListContainers", {})),
        attempt("ListImages", () => cri.call("ListImages", {})),
        attempt("ImageFsInfo", () => cri.call("ImageFsInfo", {})),
        attempt("ListContainerStats", () => cri.call("ListContainerStats", {})),
        host.sample(),
      ]);
    const sumFs = (list: { used_bytes?: { value: string } | null }[] | undefined) =>
      list ? list.reduce((a, f) => a + Number(f.used_bytes?.value ?? 0), 0) : null;
    const count = <T>(xs: T[] | undefined, pred: (x: T) => boolean) =>
      xs ? { total: xs.length, active: xs.filter(pred).length } : null;
    return c.json(
      {
        hostname: Deno.hostname(),
        kernel: Deno.osRelease(),
        version,
        conditions: status?.status?.conditions ?? [],
        runtime_handlers: status?.runtime_handlers?.map((h) => h.name || "(default)") ?? [],
        counts: {
          pods: count(pods?.items, (p) => p.state === "SANDBOX_READY"),
          containers: count(containers?.containers, (ct) => ct.state === "CONTAINER_RUNNING"),
          images: images ? images.images.length : null,
        },
        disk: {
          images_bytes: images
            ? images.images.reduce((a, i) => a + Number(i.size), 0)
            : sumFs(fs?.image_filesystems),
          image_filesystems_bytes: sumFs(fs?.image_filesystems),
          container_filesystems_bytes: sumFs(fs?.container_filesystems),
          // Containers' own writable layers (what `skiff stats` shows as DISK).
          containers_writable_bytes: stats
            ? stats.stats.reduce(
              (a, st) => a + Number(st.writable_layer?.used_bytes?.value ?? 0),
              0,
            )
            : null,
        },
        host: hostSample,
        unavailable,
        // Which CRI handlers are built, so clients (the dashboard) offer only what works.
        capabilities: Object.fromEntries(CAPABILITY_RPCS.map((m) => [m, cri.has(m)])),
      },
      200,
      { "cache-control": "no-store" },
    );
  });

  api.get("/node/stats", async (c) => {
    const sample = await host.sample();
    let containers: unknown[] | null = null;
    if (cri.has("ListContainerStats")) {
      try {
        containers = (await cri.call("ListContainerStats", {})).stats;
      } catch (err) {
        deps.log?.debug("ListContainerStats failed for node stats", { error: err });
      }
    }
    return c.json({ host: sample, containers });
  });

  return api;
}
