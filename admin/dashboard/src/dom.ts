/// <reference lib="dom" />
/**
 * DOM helpers. Data only ever enters the page as text nodes (h() children, textContent),
 * never as HTML.
 */
import { stateWord } from "../../states.ts";

/** An element of index.html by ID, of the type the page gives it. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`dashboard: no #${id} in index.html`);
  return el as T;
}

export const input = (id: string): HTMLInputElement => byId<HTMLInputElement>(id);
export const select = (id: string): HTMLSelectElement => byId<HTMLSelectElement>(id);
export const tableBody = (id: string): HTMLTableSectionElement =>
  byId<HTMLTableElement>(id).tBodies[0];

type Attr = string | number | boolean | null | undefined | ((e: Event) => void);
/** A child: text, an element, or nothing (so `cond && h(...)` works). */
export type Child = Node | string | number | false | null | undefined | Child[];

/** An element with attributes (`on…` are listeners, `class` the class name) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Record<string, Attr>,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of (children as unknown[]).flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A CRI state as a coloured word ("running", "not ready"). */
export function stateCell(state: string): HTMLSpanElement {
  const w = stateWord(state);
  return h("span", { class: "state " + w }, w === "notready" ? "not ready" : w);
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;

/** A message in the corner for six seconds (green when `ok`). */
export function toast(message: string, ok = false): void {
  document.querySelectorAll(".toast").forEach((t) => t.remove());
  const t = h("div", { class: "toast" + (ok ? " ok" : ""), role: "status" }, message);
  document.body.append(t);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.remove(), 6000);
}

/** The "nothing here" note under a table: shown when empty, naming a missing capability. */
export function emptyNote(kind: string, n: number, capable: boolean, text: string): void {
  const el = byId("empty-" + kind);
  el.classList.toggle("hidden", n > 0);
  el.textContent = capable ? text : "This Skiff does not serve " + kind + " yet.";
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
