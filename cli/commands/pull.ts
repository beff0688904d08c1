/**
 * `skiff pull IMAGE`: pulls an image with a progress line. The CRI's PullImage reports no
 * progress, so the pull goes through the local admin API's pull stream (bytes per layer)
 * when it can, and through the CRI otherwise.
 */
import { adminTokenFile, loadConfig } from "../../core/config/mod.ts";
import { type Command, parseFlags, UsageError } from "../command.ts";
import { bar, humanSize, jsonText, StatusLine } from "../format.ts";
import { type CriContext, OPERATOR_HELP, OPERATOR_OPTIONS, runOperator } from "../operator.ts";

const USAGE = `Usage: skiff pull IMAGE [--creds USER:PASSWORD]

Pulls an image, showing progress while it runs: bytes per layer through the local admin
API when the socket comes from the config and the admin token is readable; otherwise
through the CRI's PullImage (as kubelet pulls), with elapsed time only.
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  creds: { type: "string" },
} as const;

export function parsePullArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

export const pullCommand: Command = {
  name: "pull",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parsePullArgs(argv);
    return await runOperator(
      io,
      USAGE,
      values,
      async (ctx) => pull(ctx, positionals, values.creds, await adminEndpoint(values)),
    );
  },
};

/** `--creds USER:PASSWORD` → the CRI AuthConfig fields; null without --creds. */
export function credsAuth(creds: string | undefined): Record<string, string> | null {
  if (creds === undefined) return null;
  const i = creds.indexOf(":");
  if (i < 0) throw new UsageError("--creds: expected USER:PASSWORD");
  return { username: creds.slice(0, i), password: creds.slice(i + 1) };
}

/** The local admin API, when the CRI socket came from the same config and the token is ours. */
interface AdminEndpoint {
  url: string;
  token: string;
}

async function adminEndpoint(
  v: { socket?: string; config?: string },
): Promise<AdminEndpoint | null> {
  // Another socket (--socket, $SKIFF_SOCKET) may be another Skiff: stay on the CRI then.
  if (v.socket || Deno.env.get("SKIFF_SOCKET")) return null;
  try {
    const { config } = await loadConfig(v.config);
    if (!config.admin.address || config.admin.tls_cert) return null;
    const token = (await Deno.readTextFile(adminTokenFile(config))).trim();
    return token ? { url: `http://${config.admin.address}`, token } : null;
  } catch {
    return null;
  }
}

interface PullTotals {
  done: number;
  total: number;
  layers: Map<string, { done: number; total: number }>;
}

/** The progress line: a bar over bytes when sizes are known, a bouncing one otherwise. */
export function pullLine(
  image: string,
  started: number,
  t: PullTotals | null,
  tick: number,
  now = Date.now(),
): string {
  const secs = ((now - started) / 1000).toFixed(1);
  if (!t || t.total === 0) {
    const pos = (tick % 20) / 19;
    const bounce = bar(pos, 20).replace(/=+>/, (m) => " ".repeat(m.length - 1) + "<=>");
    return `Pulling ${image} ${bounce} ${secs}s`;
  }
  const finished = [...t.layers.values()].filter((l) => l.total > 0 && l.done >= l.total).length;
  return `Pulling ${image} ${bar(t.done / t.total, 30)} ${humanSize(t.done)}/${
    humanSize(t.total)
  } ${finished}/${t.layers.size} layers ${secs}s`;
}

/**
 * Pulls through the admin API's pull stream, which reports bytes per layer (the CRI's
 * PullImage has no progress). Returns null when the admin API cannot be reached, so the
 * caller falls back to the CRI.
 */
async function pullViaAdmin(
  admin: AdminEndpoint,
  image: string,
  auth: Record<string, string> | null,
  onProgress: (t: PullTotals) => void,
): Promise<{ image_ref: string } | null> {
  let res: Response;
  try {
    res = await fetch(`${admin.url}/api/v1/images/pull`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${admin.token}`,
        accept: "text/event-stream",
        "content-type": "application/json",
      },
      body: JSON.stringify({ image, auth }),
    });
  } catch {
    return null;
  }
  if (!res.ok) {
    const p = await res.json().catch(() => ({}));
    if (res.status === 401 || res.status === 501) return null;
    throw new Error(`PullImage: ${p.code ?? res.status}: ${p.detail ?? res.statusText}`);
  }
  return await readPullEvents(res.body!, onProgress);
}

/** Follows the pull's server-sent events to its `done` (or `error`). */
async function readPullEvents(
  body: ReadableStream<Uint8Array>,
  onProgress: (t: PullTotals) => void,
): Promise<{ image_ref: string }> {
  const totals: PullTotals = { done: 0, total: 0, layers: new Map() };
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of body) {
    buf += dec.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!event || !data) continue;
      const d = JSON.parse(data);
      if (event === "progress") {
        totals.layers.set(d.digest, { done: d.bytesDone, total: d.bytesTotal });
        totals.done = [...totals.layers.values()].reduce((a, l) => a + l.done, 0);
        totals.total = [...totals.layers.values()].reduce((a, l) => a + l.total, 0);
        onProgress(totals);
      } else if (event === "done") {
        return { image_ref: d.image_ref };
      } else if (event === "error") {
        throw new Error(`PullImage: ${d.code}: ${d.detail}`);
      }
    }
  }
  throw new Error("PullImage: the admin API ended the pull stream without a result");
}

async function pull(
  ctx: CriContext,
  args: string[],
  creds: string | undefined,
  admin: AdminEndpoint | null,
): Promise<number> {
  if (args.length !== 1) throw new UsageError("expected exactly one IMAGE");
  const image = args[0];
  const auth = credsAuth(creds);
  // SKIFF_PROGRESS=1 draws the bar even when stderr is not a terminal (scripts, tests).
  const line = new StatusLine(
    !ctx.json && (Deno.stderr.isTerminal() || Deno.env.get("SKIFF_PROGRESS") === "1"),
  );
  const started = Date.now();
  let tick = 0;
  let totals: PullTotals | null = null;
  const draw = () => line.show(pullLine(image, started, totals, tick++));
  const timer = setInterval(draw, 100);
  try {
    draw();
    const res = (admin &&
      await pullViaAdmin(admin, image, auth, (t) => {
        totals = t;
        draw();
      })) ??
      await ctx.client.call("PullImage", { image: { image }, auth });
    clearInterval(timer);
    draw();
    line.clear();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (ctx.json) {
      await ctx.io.out(jsonText({ image, image_ref: res.image_ref, seconds: Number(secs) }));
    } else await ctx.io.out(`Image is up to date for ${res.image_ref} (${secs}s)\n`);
    return 0;
  } finally {
    clearInterval(timer);
    line.clear();
  }
}
