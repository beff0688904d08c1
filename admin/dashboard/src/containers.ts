/// <reference lib="dom" />
/**
 * The containers tab: a filterable table with live CPU and memory cells, and the buttons
 * that open a container's log or a shell in it. Also fills the logs' and terminal's
 * container pickers.
 */
import { isContainerExited, isContainerRunning } from "../../states.ts";
import { act, inspect } from "./actions.ts";
import { getJson } from "./api.ts";
import { byId, emptyNote, h, input, select, stateCell, tableBody } from "./dom.ts";
import { ageFrom, bytes, shortId } from "./format.ts";
import { openLogs } from "./logs.ts";
import { state } from "./state.ts";
import { openTerminal } from "./terminal.ts";
import type { ContainerList, ContainerView } from "./types.ts";

export async function loadContainers(): Promise<void> {
  if (!state.caps.ListContainers) return;
  state.containers = (await getJson<ContainerList>("/containers")).containers;
  byId("count-containers").textContent = String(
    state.containers.filter((c) => isContainerRunning(c.state)).length,
  );
  renderContainers();
  fillContainerSelects();
}

/** CPU (cores, from usage_nano_cores) or memory (working set) of a container's last sample. */
function usage(id: string, what: string): string {
  const st = state.containerStats.get(id);
  if (!st) return "—";
  if (what === "cpu") {
    const n = st.cpu?.usage_nano_cores;
    return n ? (Number(n.value) / 1e9).toFixed(3) : "—";
  }
  const m = st.memory?.working_set_bytes;
  return m ? bytes(m.value) : "—";
}

/** Only the usage cells change: rows stay put under the pointer and the selection. */
export function updateUsageCells(): void {
  for (const row of tableBody("table-containers").rows) {
    for (const cell of row.querySelectorAll<HTMLElement>("td[data-usage]")) {
      cell.textContent = usage(row.dataset.id ?? "", cell.dataset.usage ?? "");
    }
  }
}

function actionButtons(c: ContainerView): HTMLTableCellElement {
  const running = isContainerRunning(c.state);
  return h(
    "td",
    { class: "actions" },
    h("button", { class: "small secondary", onclick: () => openLogs(c.id) }, "Logs"),
    running && (state.caps.Exec || state.caps.ExecSync) &&
      h("button", { class: "small secondary", onclick: () => openTerminal(c.id) }, "Shell"),
    h("button", {
      class: "small secondary",
      onclick: () => inspect("containers", "/containers/" + c.id),
    }, "Inspect"),
    state.caps.StopContainer && running &&
      h("button", {
        class: "small secondary",
        onclick: () => act("Stop container " + c.name, "/containers/" + c.id + "/stop", "POST"),
      }, "Stop"),
    state.caps.RemoveContainer &&
      h("button", {
        class: "small danger",
        onclick: () =>
          act("Remove container " + c.name, "/containers/" + c.id + "?force=1", "DELETE"),
      }, "Remove"),
  );
}

function containerRow(c: ContainerView): HTMLTableRowElement {
  return h(
    "tr",
    { "data-id": c.id },
    h("td", {}, c.name),
    h("td", { class: "muted" }, c.pod_namespace ? c.pod_namespace + "/" + c.pod_name : c.pod_name),
    h("td", { class: "mono" }, c.image_name),
    h("td", {}, stateCell(c.state)),
    h("td", { class: "num" }, String(c.restart_count)),
    h("td", { class: "mono" }, c.ips.join(", ") || (c.host_network ? "host network" : "—")),
    h("td", { class: "num", "data-usage": "cpu" }, usage(c.id, "cpu")),
    h("td", { class: "num", "data-usage": "mem" }, usage(c.id, "mem")),
    h("td", { title: c.created }, ageFrom(c.created)),
    actionButtons(c),
  );
}

export function renderContainers(): void {
  const q = input("filter-containers").value.trim().toLowerCase();
  const all = input("containers-all").checked;
  const list = state.containers.filter((c) =>
    (all || !isContainerExited(c.state)) &&
    (!q || (c.name + " " + c.pod_name + " " + c.image_name).toLowerCase().includes(q))
  );
  tableBody("table-containers").replaceChildren(...list.map(containerRow));
  emptyNote("containers", list.length, !!state.caps.ListContainers, "No containers.");
}

/** The logs' picker lists every container, the terminal's only running ones. */
function fillContainerSelects(): void {
  for (const id of ["logs-container", "term-container"]) {
    const sel = select(id);
    const keep = sel.value;
    const list = id === "term-container"
      ? state.containers.filter((c) => isContainerRunning(c.state))
      : state.containers;
    sel.replaceChildren(
      ...list.map((c) =>
        h(
          "option",
          { value: c.id },
          c.name + " (" + (c.pod_name || shortId(c.pod_sandbox_id)) + ")",
        )
      ),
    );
    if (list.some((c) => c.id === keep)) sel.value = keep;
  }
}

export function setUpContainers(): void {
  input("filter-containers").addEventListener("input", renderContainers);
  input("containers-all").addEventListener("change", renderContainers);
}
