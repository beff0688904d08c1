/// <reference lib="dom" />
/** The pods tab: a filterable table with inspect, stop and remove. */
import { isPodReady } from "../../states.ts";
import { act, inspect } from "./actions.ts";
import { getJson } from "./api.ts";
import { byId, emptyNote, h, input, stateCell, tableBody } from "./dom.ts";
import { ageFrom, shortId } from "./format.ts";
import { state } from "./state.ts";
import type { PodList, PodView } from "./types.ts";

export async function loadPods(): Promise<void> {
  if (!state.caps.ListPodSandbox) return;
  state.pods = (await getJson<PodList>("/pods")).items;
  byId("count-pods").textContent = String(state.pods.length);
  renderPods();
}

function podRow(p: PodView, containers: number): HTMLTableRowElement {
  return h(
    "tr",
    { "data-id": p.id },
    h("td", {}, p.name),
    h("td", { class: "muted" }, p.namespace),
    h("td", {}, stateCell(p.state)),
    h("td", { class: "mono" }, p.ips.join(", ") || (p.host_network ? "host network" : "—")),
    h("td", { class: "num" }, String(containers)),
    h("td", { title: p.created }, ageFrom(p.created)),
    h("td", { class: "mono muted" }, shortId(p.id)),
    h(
      "td",
      { class: "actions" },
      h("button", {
        class: "small secondary",
        onclick: () => inspect("pods", "/pods/" + p.id),
      }, "Inspect"),
      state.caps.StopPodSandbox && isPodReady(p.state) &&
        h("button", {
          class: "small secondary",
          onclick: () => act("Stop pod " + p.name, "/pods/" + p.id + "/stop", "POST"),
        }, "Stop"),
      state.caps.RemovePodSandbox &&
        h("button", {
          class: "small danger",
          onclick: () => act("Remove pod " + p.name, "/pods/" + p.id + "?force=1", "DELETE"),
        }, "Remove"),
    ),
  );
}

export function renderPods(): void {
  const q = input("filter-pods").value.trim().toLowerCase();
  const pods = state.pods.filter((p) =>
    !q || (p.name + " " + p.namespace).toLowerCase().includes(q)
  );
  const counts = new Map<string, number>();
  for (const c of state.containers) {
    counts.set(c.pod_sandbox_id, (counts.get(c.pod_sandbox_id) ?? 0) + 1);
  }
  tableBody("table-pods").replaceChildren(...pods.map((p) => podRow(p, counts.get(p.id) ?? 0)));
  emptyNote("pods", pods.length, !!state.caps.ListPodSandbox, "No pods on this node.");
}

export function setUpPods(): void {
  input("filter-pods").addEventListener("input", renderPods);
}
