/// <reference lib="dom" />
/**
 * Keeping the page current: every list refetched after an action or a container event
 * (Server-Sent Events from /events), or polled when this Skiff has no event stream.
 */
import { api, isUnauthorized, readSse } from "./api.ts";
import { loadContainers } from "./containers.ts";
import { byId, messageOf, toast } from "./dom.ts";
import { loadImages } from "./images.ts";
import { loadNode } from "./overview.ts";
import { loadPods } from "./pods.ts";
import { state } from "./state.ts";

let refreshTimer: ReturnType<typeof setTimeout> | undefined;

/** Refetches everything in a moment (events come in bursts: one refresh per burst). */
export function refreshSoon(): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refreshAll, 250);
}

export async function refreshAll(): Promise<void> {
  // Pods show their container counts: containers first.
  const containersThenPods = async () => {
    try {
      await loadContainers();
    } finally {
      await loadPods();
    }
  };
  const results = await Promise.allSettled([loadNode(), containersThenPods(), loadImages()]);
  for (const r of results) {
    if (r.status === "rejected" && !isUnauthorized(r.reason)) toast(messageOf(r.reason));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Follows /events for as long as the page is open, reconnecting after 2 s. */
export async function followEvents(): Promise<void> {
  const live = byId("live");
  if (!state.caps.GetContainerEvents) {
    live.textContent = "○ polling";
    live.title = "this Skiff has no event stream yet; refreshing every 5 s";
    setInterval(refreshAll, 5000);
    return;
  }
  for (;;) {
    try {
      const res = await api("/events", { headers: { accept: "text/event-stream" } });
      live.textContent = "● live";
      live.classList.add("on");
      await readSse(res, (event) => {
        if (event === "container") refreshSoon();
      });
    } catch {
      // reconnect below
    }
    live.textContent = "○ reconnecting";
    live.classList.remove("on");
    await sleep(2000);
  }
}
