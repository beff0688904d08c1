/**
 * Output helpers for the operator CLI: crictl-like tables, ages, sizes, truncated IDs, the
 * labels of CRI states.
 */
import type { ContainerState, PodSandboxState } from "../cri/types.ts";

/** Left-aligned columns separated by three spaces, as crictl prints them. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join("   ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/** "5 seconds ago", "3 minutes ago", "2 hours ago", "4 days ago" (like crictl). */
export function ago(nanos: string | number | undefined, now = Date.now()): string {
  if (nanos === undefined) return "";
  const n = BigInt(nanos);
  if (n <= 0n) return "";
  const secs = Math.max(0, Math.floor((now - Number(n / 1_000_000n)) / 1000));
  const unit = (v: number, u: string) => `${v} ${u}${v === 1 ? "" : "s"} ago`;
  if (secs < 60) return secs < 1 ? "Less than a second ago" : unit(secs, "second");
  if (secs < 3600) return unit(Math.floor(secs / 60), "minute");
  if (secs < 86400) return unit(Math.floor(secs / 3600), "hour");
  if (secs < 86400 * 14) return unit(Math.floor(secs / 86400), "day");
  return unit(Math.floor(secs / (86400 * 7)), "week");
}

/** Human size in decimal units, as crictl prints image sizes ("4.27MB"). */
export function humanSize(bytes: number | string): string {
  let n = Number(bytes);
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n}B` : `${n.toPrecision(3).replace(/\.?0+$/, "")}${units[i]}`;
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 13);
}

/** What tables show for each CRI container state; `--state` takes the label in any case. */
const CONTAINER_STATE_LABELS: Record<ContainerState, string> = {
  CONTAINER_CREATED: "Created",
  CONTAINER_RUNNING: "Running",
  CONTAINER_EXITED: "Exited",
  CONTAINER_UNKNOWN: "Unknown",
};

/** What tables show for each CRI pod sandbox state; `--state` takes the label in any case. */
const POD_STATE_LABELS: Record<PodSandboxState, string> = {
  SANDBOX_READY: "Ready",
  SANDBOX_NOTREADY: "NotReady",
};

/** The state `ps` and `stats` show unless asked for all. */
export const RUNNING_CONTAINER: ContainerState = "CONTAINER_RUNNING";

/** CONTAINER_RUNNING → Running (a value this table lacks is shown as it came). */
export function containerStateLabel(state: ContainerState): string {
  return CONTAINER_STATE_LABELS[state] ?? String(state);
}

/** SANDBOX_NOTREADY → NotReady. */
export function podStateLabel(state: PodSandboxState): string {
  return POD_STATE_LABELS[state] ?? String(state);
}

/** `running` (any case) → CONTAINER_RUNNING; undefined for no such state. */
export function containerStateNamed(name: string): ContainerState | undefined {
  return stateNamed(CONTAINER_STATE_LABELS, name);
}

/** `notready` (any case) → SANDBOX_NOTREADY; undefined for no such state. */
export function podStateNamed(name: string): PodSandboxState | undefined {
  return stateNamed(POD_STATE_LABELS, name);
}

function stateNamed<S extends string>(labels: Record<S, string>, name: string): S | undefined {
  const wanted = name.toLowerCase();
  return (Object.keys(labels) as S[]).find((s) => labels[s].toLowerCase() === wanted);
}

/** The state names `--state` takes, for messages: "created, running, exited or unknown". */
export function stateChoices(kind: "container" | "pod"): string {
  const names = Object.values<string>(
    kind === "container" ? CONTAINER_STATE_LABELS : POD_STATE_LABELS,
  )
    .map((l) => l.toLowerCase());
  return names.length > 1 ? `${names.slice(0, -1).join(", ")} or ${names.at(-1)}` : names.join("");
}

/** A CRI reply (or any value) as the indented JSON `--output json` prints. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/** `repo:tag` → [repo, tag]; `<none>` where missing. A port in the host is not a tag. */
export function splitRepoTag(ref: string): [string, string] {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return [ref.slice(0, colon), ref.slice(colon + 1)];
  return [ref, "<none>"];
}

/** A progress line redrawn in place on a terminal. */
export class StatusLine {
  private last = "";
  constructor(private readonly enabled: boolean) {}
  show(text: string): void {
    if (!this.enabled) return;
    const pad = this.last.length > text.length ? " ".repeat(this.last.length - text.length) : "";
    Deno.stderr.writeSync(new TextEncoder().encode(`\r${text}${pad}`));
    this.last = text;
  }
  clear(): void {
    if (!this.enabled || !this.last) return;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r${" ".repeat(this.last.length)}\r`));
    this.last = "";
  }
}

/** `[=====>      ]` for a fraction 0..1. */
export function bar(fraction: number, width = 30): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.floor(f * width);
  return `[${"=".repeat(full)}${full < width ? ">" : ""}${
    " ".repeat(Math.max(0, width - full - 1))
  }]`;
}
