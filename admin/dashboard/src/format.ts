/** Text for the page: ages, sizes, short IDs. Pure (unit-tested in format_test.ts). */

/** "42s", "5m", "3h7m", "2d4h" since an ISO time; "" for none. */
export function ageFrom(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "";
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  if (s < 86400) return Math.floor(s / 3600) + "h" + (Math.floor(s / 60) % 60) + "m";
  return Math.floor(s / 86400) + "d" + (Math.floor(s / 3600) % 24) + "h";
}

/** Decimal units, as `skiff images` prints them; "—" for unknown. */
export function bytes(n: number | string | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const u = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  let v = Number(n);
  while (v >= 1000 && i < u.length - 1) {
    v /= 1000;
    i++;
  }
  return (i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)) + " " + u[i];
}

/** The first 12 hex digits of an ID or digest. */
export function shortId(id: string | null | undefined): string {
  return (id || "").replace(/^sha256:/, "").slice(0, 12);
}

/** "registry/app:1.2" → ["registry/app", "1.2"]; a port is not a tag. */
export function splitTag(ref: string): [string, string] {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, "<none>"];
}
