/** Output helpers for the operator CLI: crictl-like tables, ages, sizes, truncated IDs. */

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

/** CONTAINER_RUNNING → Running, SANDBOX_NOTREADY → NotReady. */
export function stateName(s: string): string {
  const bare = s.replace(/^(CONTAINER|SANDBOX)_/, "");
  if (bare === "NOTREADY") return "NotReady";
  return bare.charAt(0) + bare.slice(1).toLowerCase();
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
