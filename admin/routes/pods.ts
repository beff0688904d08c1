/** Pods: list (with IPs from each pod's status), inspect (with its containers), stop, remove. */
import { Hono } from "hono";
import type { Container } from "../../cri/types.ts";
import { POD_STATE_PARAMS } from "../states.ts";
import { clientGone } from "../stream.ts";
import { type ApiDeps, podStatusOrNull } from "./deps.ts";
import { boolParam, labelSelector, stateParam } from "./params.ts";
import { byNewest, containerView, isoFromNanos, podIps, podView } from "./views.ts";

export function podRoutes({ cri }: ApiDeps): Hono {
  const app = new Hono();

  app.get("/pods", async (c) => {
    const state = stateParam(c, POD_STATE_PARAMS, "pod state");
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
      items.map(async (p) => podView(p, withStatus ? await podStatusOrNull(cri, p.id) : null)),
    );
    views.sort(byNewest);
    return c.json({ items: views });
  });

  app.get("/pods/:id", async (c) => {
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

  app.post("/pods/:id/stop", async (c) => {
    await cri.call("StopPodSandbox", { pod_sandbox_id: c.req.param("id") }, clientGone(c));
    return c.json({ stopped: c.req.param("id") });
  });

  app.delete("/pods/:id", async (c) => {
    const id = c.req.param("id");
    // As crictl rmp -f does: stop first (idempotent), then remove.
    if (boolParam(c, "force")) await cri.call("StopPodSandbox", { pod_sandbox_id: id });
    await cri.call("RemovePodSandbox", { pod_sandbox_id: id }, clientGone(c));
    return c.json({ removed: id });
  });

  return app;
}
