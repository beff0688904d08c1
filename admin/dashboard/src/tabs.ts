/// <reference lib="dom" />
/** The tab bar: one view visible at a time; views that draw (charts, terminal) hear of it. */
import { state, type Tab } from "./state.ts";

const shownListeners: ((tab: Tab) => void)[] = [];

/** Called after every tab switch (the terminal fits itself, the charts redraw). */
export function onTabShown(listener: (tab: Tab) => void): void {
  shownListeners.push(listener);
}

export function showTab(tab: Tab): void {
  state.tab = tab;
  for (const b of document.querySelectorAll<HTMLButtonElement>("#tabs button")) {
    b.classList.toggle("active", b.dataset.tab === tab);
  }
  for (const v of document.querySelectorAll(".view")) {
    v.classList.toggle("hidden", v.id !== "view-" + tab);
  }
  for (const l of shownListeners) l(tab);
}

export function setUpTabs(): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>("#tabs button")) {
    b.addEventListener("click", () => showTab(b.dataset.tab as Tab));
  }
}
