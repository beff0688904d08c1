/// <reference lib="dom" />
/** The logs tab: a container's log, tailed and optionally followed, stdout and stderr. */
import { api, readStream } from "./api.ts";
import { byId, h, input, messageOf, select } from "./dom.ts";
import { showTab } from "./tabs.ts";
import type { LogLine } from "./types.ts";

/** The page keeps at most this many lines (oldest dropped). */
const MAX_LINES = 5000;
let logsAbort: AbortController | null = null;

export function openLogs(id: string): void {
  showTab("logs");
  select("logs-container").value = id;
  startLogs();
}

function appendLines(view: HTMLElement, lines: string[]): void {
  const atBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 30;
  for (const l of lines) {
    if (!l) continue;
    const e = JSON.parse(l) as LogLine;
    if (e.error) {
      view.append(h("span", { class: "stderr" }, "[" + e.error.detail + "]\n"));
      continue;
    }
    const ts = input("logs-timestamps").checked ? e.time + " " : "";
    view.append(h("span", { class: e.stream }, ts + e.log + (e.partial ? "" : "\n")));
  }
  while (view.childNodes.length > MAX_LINES) view.firstChild?.remove();
  if (atBottom) view.scrollTop = view.scrollHeight;
}

async function startLogs(): Promise<void> {
  stopLogs();
  const id = select("logs-container").value;
  if (!id) return;
  const view = byId("logview");
  view.replaceChildren();
  const ac = new AbortController();
  logsAbort = ac;
  const follow = input("logs-follow").checked;
  const params = new URLSearchParams({ tail: input("logs-tail").value || "200", format: "json" });
  if (follow) params.set("follow", "1");
  const status = byId("logs-status");
  status.textContent = follow ? "following…" : "loading…";
  let buf = "";
  try {
    const res = await api("/containers/" + id + "/logs?" + params, { signal: ac.signal });
    await readStream(res, (text) => {
      buf += text;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      appendLines(view, lines);
    }, ac.signal);
    if (!ac.signal.aborted) status.textContent = "end of log";
  } catch (err) {
    if (!ac.signal.aborted) status.textContent = messageOf(err);
  }
}

function stopLogs(): void {
  logsAbort?.abort();
  logsAbort = null;
  byId("logs-status").textContent = "";
}

export function setUpLogs(): void {
  byId("logs-start").addEventListener("click", startLogs);
  byId("logs-stop").addEventListener("click", stopLogs);
}
