/**
 * The node: GET /node (identity, CRI conditions, counts, disk, host sample, and which CRI
 * handlers are built) and GET /node/stats (host sample and every container's stats).
 * Each part of /node degrades on its own: what fails is named under `unavailable`.
 */
import { Hono } from "hono";
import { HostSampler } from "../host.ts";
import type { LocalCri } from "../local_cri.ts";
import { problemFromError } from "../problem.ts";
import { isContainerRunning, isPodReady } from "../states.ts";
import type { ApiDeps } from "./deps.ts";

/** The CRI handlers whose presence /node reports, so clients offer only what works. */
export const CAPABILITY_RPCS = [
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

type UsedBytes = { used_bytes?: { value: string } | null };

export function sumUsedBytes(list: UsedBytes[] | undefined): number | null {
  return list ? list.reduce((a, f) => a + Number(f.used_bytes?.value ?? 0), 0) : null;
}

export function countActive<T>(
  xs: T[] | undefined,
  active: (x: T) => boolean,
): { total: number; active: number } | null {
  return xs ? { total: xs.length, active: xs.filter(active).length } : null;
}

/** Every CRI read /node makes, side by side; a failed one is null and named in `unavailable`. */
async function nodeReads(cri: LocalCri, unavailable: Record<string, string>) {
  const attempt = async <T>(name: string, f: () => Promise<T>): Promise<T | null> => {
    try {
      return await f();
    } catch (err) {
      unavailable[name] = problemFromError(err).detail;
      return null;
    }
  };
  const [version, status, pods, containers, images, fs, stats] = await Promise.all([
    attempt("Version", () => cri.call("Version", {})),
    attempt("Status", () => cri.call("Status", {})),
    attempt("ListPodSandbox", () => cri.call("ListPodSandbox", {})),
    attempt("ListContainers", () => cri.call("ListContainers", {})),
    attempt("ListImages", () => cri.call("ListImages", {})),
    attempt("ImageFsInfo", () => cri.call("ImageFsInfo", {})),
    attempt("ListContainerStats", () => cri.call("ListContainerStats", {})),
  ]);
  return { version, status, pods, containers, images, fs, stats };
}

/** GET /node. */
export type NodeSummary = Awaited<ReturnType<typeof nodeSummary>>;

async function nodeSummary(cri: LocalCri, host: HostSampler) {
  const unavailable: Record<string, string> = {};
  const [r, hostSample] = await Promise.all([nodeReads(cri, unavailable), host.sample()]);
  const { images, fs, stats } = r;
  return {
    hostname: Deno.hostname(),
    kernel: Deno.osRelease(),
    version: r.version,
    conditions: r.status?.status?.conditions ?? [],
    runtime_handlers: r.status?.runtime_handlers?.map((h) => h.name || "(default)") ?? [],
    counts: {
      pods: countActive(r.pods?.items, (p) => isPodReady(p.state)),
      containers: countActive(r.containers?.containers, (ct) => isContainerRunning(ct.state)),
      images: images ? images.images.length : null,
    },
    disk: {
      images_bytes: images
        ? images.images.reduce((a, i) => a + Number(i.size), 0)
        : sumUsedBytes(fs?.image_filesystems),
      image_filesystems_bytes: sumUsedBytes(fs?.image_filesystems),
      container_filesystems_bytes: sumUsedBytes(fs?.container_filesystems),
      // Containers' own writable layers (what `skiff stats` shows as DISK).
      containers_writable_bytes: stats
        ? sumUsedBytes(stats.stats.map((st) => st.writable_layer ?? {}))
        : null,
    },
    host: hostSample,
    unavailable,
    // Which CRI handlers are built, so clients (the dashboard) offer only what works.
    capabilities: Object.fromEntries(CAPABILITY_RPCS.map((m) => [m, cri.has(m)])),
  };
}

export function nodeRoutes({ cri, log }: ApiDeps): Hono {
  const app = new Hono();
  const host = new HostSampler();

  app.get(
    "/node",
    async (c) => c.json(await nodeSummary(cri, host), 200, { "cache-control": "no-store" }),
  );

  app.get("/node/stats", async (c) => {
    const sample = await host.sample();
    let containers: unknown[] | null = null;
    if (cri.has("ListContainerStats")) {
      try {
        containers = (await cri.call("ListContainerStats", {})).stats;
      } catch (err) {
        log?.debug("ListContainerStats failed for node stats", { error: err });
      }
    }
    return c.json({ host: sample, containers });
  });

  return app;
}
