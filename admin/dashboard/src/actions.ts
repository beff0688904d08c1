/// <reference lib="dom" />
/** What a row's buttons do: inspect (JSON below the table) and confirmed actions. */
import { api, getJson } from "./api.ts";
import { byId, messageOf, toast } from "./dom.ts";
import { requestRefresh } from "./state.ts";

/** Shows GET `path` as pretty JSON in the view's detail box. */
export async function inspect(kind: "pods" | "containers", path: string): Promise<void> {
  const pre = byId("detail-" + kind);
  try {
    pre.textContent = JSON.stringify(await getJson(path), null, 2);
    pre.classList.remove("hidden");
  } catch (err) {
    toast(messageOf(err));
  }
}

/** Asks "what?" and, when confirmed, sends `method path`, then refreshes the lists. */
export async function act(what: string, path: string, method: "POST" | "DELETE"): Promise<void> {
  if (!confirm(what + "?")) return;
  try {
    await api(path, { method });
    toast(what + ": done", true);
    requestRefresh();
  } catch (err) {
    toast(what + ": " + messageOf(err));
  }
}
