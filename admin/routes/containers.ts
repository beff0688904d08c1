/**
 * Containers: list (with pod names and IPs), inspect, stop, remove, stats and exec_sync
 * (audited: it runs a command). Logs and the WebSocket streams have files of their own.
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { InvalidArgumentError } from "../../core/errors.ts";
import type { Container } from "../../cri/types.ts";
import type { LocalCri } from "../local_cri.ts";
import { CONTAINER_STATE_PARAMS } from "../states.ts";
import { clientGone } from "../stream.ts";
import { type ApiDeps, podStatusOrNull } from "./deps.ts";
import { audited, boolParam, intParam, jsonBody, labelSelector, stateParam } from "./params.ts";
import {
  byNewest,
  containerView,
  isoFromNanos,
  type PodWithIps,
  podWithIps,
  restartCount,
} from "./views.ts";

/** Pod names and IPs of the containers' pods, looked up once per pod. */
async function podsOf(cri: LocalCri, list: Container[]): Promise<Map<string, PodWithIps | null>> {
  const pods = new Map<string, PodWithIps | null>();
  if (!cri.has("ListPodSandbox")) return pods;
  const all = (await cri.call("ListPodSandbox", {})).items;
  const byId = new Map(all.map((p) => [p.id, p]));
  for (const id of new Set(list.map((ct) => ct.pod_sandbox_id))) {
    const p = byId.get(id);
    const st = p && cri.has("PodSandboxStatus") ? await podStatusOrNull(cri, id) : null;
    pods.set(id, p ? podWithIps(p, st) : null);
  }
  return pods;
}

async function listContainers(cri: LocalCri, c: Context): Promise<Response> {
  const state = stateParam(c, CONTAINER_STATE_PARAMS, "container state");
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
  const pods = await podsOf(cri, list);
  const items = list.map((ct) => containerView(ct, pods.get(ct.pod_sandbox_id) ?? null));
  items.sort(byNewest);
  return c.json({ containers: items });
}

async function execSync({ cri, audit }: ApiDeps, c: Context, id: string): Promise<Response> {
  const body = await jsonBody<{ cmd?: unknown; timeout_seconds?: unknown }>(c);
  if (
    !Array.isArray(body.cmd) || body.cmd.length === 0 ||
    !body.cmd.every((x) => typeof x === "string")
  ) {
    throw new InvalidArgumentError('"cmd" must be a non-empty array of strings');
  }
  const timeout = typeof body.timeout_seconds === "number" ? body.timeout_seconds : 0;
  await audit?.record(audited(c, { action: "exec_sync", target: id, command: body.cmd }));
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
}

export function containerRoutes(deps: ApiDeps): Hono {
  const { cri } = deps;
  const app = new Hono();

  app.get("/containers", (c) => listContainers(cri, c));

  app.get("/containers/:id", async (c) => {
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

  app.post("/containers/:id/stop", async (c) => {
    const timeout = intParam(c, "timeout") ?? 10;
    await cri.call("StopContainer", { container_id: c.req.param("id"), timeout: String(timeout) });
    return c.json({ stopped: c.req.param("id") });
  });

  app.delete("/containers/:id", async (c) => {
    const id = c.req.param("id");
    if (boolParam(c, "force")) await cri.call("StopContainer", { container_id: id, timeout: "0" });
    await cri.call("RemoveContainer", { container_id: id }, clientGone(c));
    return c.json({ removed: id });
  });

  app.get("/containers/:id/stats", async (c) => {
    const res = await cri.call("ContainerStats", { container_id: c.req.param("id") });
    return c.json(res);
  });

  app.post("/containers/:id/exec_sync", (c) => execSync(deps, c, c.req.param("id")));

  return app;
}
