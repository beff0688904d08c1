/// <reference lib="dom" />
/** The overview: the node's identity and conditions, summary cards, CPU and memory charts. */
import { getJson } from "./api.ts";
import { drawChart } from "./chart.ts";
import { updateUsageCells } from "./containers.ts";
import { byId, h } from "./dom.ts";
import { bytes } from "./format.ts";
import { state } from "./state.ts";
import type { NodeStats, NodeSummary } from "./types.ts";

function card(label: string, value: string, sub: string): HTMLDivElement {
  return h(
    "div",
    { class: "card" },
    h("div", { class: "label" }, label),
    h("div", { class: "value" }, value),
    h("div", { class: "sub" }, sub),
  );
}

function cards(n: NodeSummary): HTMLDivElement[] {
  const c = n.counts;
  const mem = n.host;
  const disk = n.disk;
  return [
    card(
      "Pods",
      c.pods ? String(c.pods.active) : "—",
      c.pods ? "ready of " + c.pods.total : "not available yet",
    ),
    card(
      "Containers",
      c.containers ? String(c.containers.active) : "—",
      c.containers ? "running of " + c.containers.total : "not available yet",
    ),
    card(
      "Images",
      c.images === null ? "—" : String(c.images),
      disk.images_bytes === null ? "not available yet" : bytes(disk.images_bytes),
    ),
    card(
      "Disk",
      disk.images_bytes === null && disk.containers_writable_bytes === null
        ? "—"
        : bytes((disk.images_bytes || 0) + (disk.containers_writable_bytes || 0)),
      "images " + bytes(disk.images_bytes) + " · containers " +
        bytes(disk.containers_writable_bytes),
    ),
    card(
      "Memory",
      bytes(mem.memoryTotalBytes - mem.memoryAvailableBytes),
      "used of " + bytes(mem.memoryTotalBytes),
    ),
    card("Load", mem.load.map((x) => x.toFixed(2)).join("  "), mem.cpus + " CPUs"),
  ];
}

export async function loadNode(): Promise<void> {
  const n = await getJson<NodeSummary>("/node");
  state.node = n;
  state.caps = n.capabilities || {};
  byId("node-name").textContent = n.hostname + " · " + n.kernel;
  byId("version").textContent = n.version
    ? n.version.runtime_name + " " + n.version.runtime_version + " · CRI " +
      n.version.runtime_api_version
    : "";
  byId("conditions").replaceChildren(
    ...n.conditions.map((c) =>
      h("span", {
        class: "pill " + (c.status ? "ok" : "bad"),
        title: c.status ? "" : (c.reason + ": " + c.message),
      }, (c.status ? "✓ " : "✗ ") + c.type)
    ),
  );
  byId("cards").replaceChildren(...cards(n));
  const missing = Object.keys(n.unavailable || {});
  byId("unavailable").textContent = missing.length
    ? "Not available from this Skiff yet: " + missing.join(", ") + "."
    : "";
}

export async function sampleHost(): Promise<void> {
  const s = await getJson<NodeStats>("/node/stats");
  state.samples.push(s.host);
  if (state.samples.length > 90) state.samples.shift();
  state.containerStats = new Map((s.containers || []).map((c) => [c.attributes?.id ?? "", c]));
  updateUsageCells();
  const last = s.host;
  byId("cpu-now").textContent = last.cpuBusy === null
    ? ""
    : (last.cpuBusy * 100).toFixed(1) + "% of " + last.cpus + " CPUs";
  byId("mem-now").textContent = bytes(last.memoryTotalBytes - last.memoryAvailableBytes) +
    " of " + bytes(last.memoryTotalBytes);
  if (state.tab === "overview") drawCharts();
}

export function drawCharts(): void {
  drawChart(
    byId<HTMLCanvasElement>("chart-cpu"),
    state.samples.map((s) => s.cpuBusy),
    "#4fb3ff",
  );
  drawChart(
    byId<HTMLCanvasElement>("chart-mem"),
    state.samples.map((s) => 1 - s.memoryAvailableBytes / s.memoryTotalBytes),
    "#3fcf8e",
  );
}
