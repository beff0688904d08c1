/**
 * The operator CLI in the `skiff` binary: `ps`, `pods`, `images`, `pull`, `logs`, `exec`,
 * `inspect`, `rm`, `stats`, `dashboard`. Talks CRI to the local socket (like crictl), so
 * it works against any Skiff and shows exactly what kubelet would see. `--output json`
 * prints the CRI replies (field names as in api.proto) for scripts. One exception: `pull`
 * uses the local admin API's pull stream when it can, for per-layer progress.
 */
import { parseArgs } from "node:util";
import { adminTokenFile, DEFAULT_CONFIG_PATH, loadConfig } from "../core/config/mod.ts";
import { errorMessage } from "../core/errors.ts";
import { CriCallError, CriClient } from "../cri/client.ts";
import type { ContainerState, ContainerStats, PodSandboxState } from "../cri/types.ts";
import { followLog, formatEntry, parseSince, readLog } from "../admin/logs.ts";
import {
  ago,
  bar,
  humanSize,
  shortId,
  splitRepoTag,
  stateName,
  StatusLine,
  table,
} from "./format.ts";
import { runRemoteCommand } from "./remote.ts";

export const CLI_COMMANDS = [
  "ps",
  "pods",
  "images",
  "pull",
  "logs",
  "exec",
  "inspect",
  "rm",
  "stats",
  "dashboard",
] as const;
export type CliCommand = typeof CLI_COMMANDS[number];

export function isCliCommand(s: string | undefined): s is CliCommand {
  return (CLI_COMMANDS as readonly string[]).includes(s ?? "");
}

const COMMON = `Common options:
  -o, --output FORMAT   table (default) or json
      --socket PATH     CRI socket (default: the config's "socket", or $SKIFF_SOCKET)
  -c, --config FILE     config file to read the socket from (default ${DEFAULT_CONFIG_PATH})
  -h, --help            this help`;

export const CLI_HELP: Record<CliCommand, string> = {
  ps: `Usage: skiff ps [-a] [--pod ID] [--name NAME] [--state STATE] [--label K=V] [-q]

Lists containers (running only, unless -a or --state).
  -a, --all          all states
      --pod ID       only this pod sandbox's containers
      --name NAME    names containing NAME
      --state S      created, running, exited or unknown
      --label K=V    label selector (repeatable)
  -q, --quiet        only IDs
${COMMON}`,
  pods: `Usage: skiff pods [--name NAME] [--namespace NS] [--state STATE] [--label K=V] [-q]

Lists pod sandboxes.
      --state S      ready or notready
${COMMON}`,
  images: `Usage: skiff images [-q] [REPO[:TAG]]

Lists images with their tags, IDs and sizes.
${COMMON}`,
  pull: `Usage: skiff pull IMAGE [--creds USER:PASSWORD]

Pulls an image, showing progress while it runs: bytes per layer through the local admin
API when the socket comes from the config and the admin token is readable; otherwise
through the CRI's PullImage (as kubelet pulls), with elapsed time only.
${COMMON}`,
  logs: `Usage: skiff logs [-f] [--tail N] [--since TIME] [-t] CONTAINER

Prints a container's log (the CRI log file at its ContainerStatus.log_path).
  -f, --follow       keep printing new lines; survives log rotation
      --tail N       only the last N lines
      --since T      RFC 3339 time or a duration back from now (30s, 5m, 2h)
  -t, --timestamps   prefix each line with its time
${COMMON}`,
  exec: `Usage: skiff exec [-i] [-t] [--timeout SECONDS] CONTAINER COMMAND [ARG...]

Runs a command in a container. Without -i/-t it runs to completion (ExecSync) and
exits with the command's exit code; with -i (stdin) and -t (terminal) it streams
through the CRI streaming server.
${COMMON}`,
  inspect: `Usage: skiff inspect [--type container|pod|image] ID|NAME...

Prints the verbose status of containers, pods or images (whichever the ID names).
${COMMON}`,
  rm: `Usage: skiff rm [-f] ID...

Removes containers, pod sandboxes or images (whichever each ID names).
  -f, --force        stop running containers and pods first
${COMMON}`,
  stats: `Usage: skiff stats [-a] [--pod ID] [CONTAINER...]

Shows CPU, memory and writable-layer usage of containers.
${COMMON}`,
  dashboard: `Usage: skiff dashboard

Prints the dashboard's URL with the admin token in its fragment (never sent to the
server); open it in a browser on this machine (or through an SSH tunnel).
${COMMON}`,
};

class UsageError extends Error {}

interface Ctx {
  client: CriClient;
  json: boolean;
  out: (s: string) => Promise<void>;
}

const enc = new TextEncoder();
const write = async (s: string | Uint8Array) => {
  const b = typeof s === "string" ? enc.encode(s) : s;
  let off = 0;
  while (off < b.length) off += await Deno.stdout.write(b.subarray(off));
};
const writeErr = async (s: string | Uint8Array) => {
  const b = typeof s === "string" ? enc.encode(s) : s;
  let off = 0;
  while (off < b.length) off += await Deno.stderr.write(b.subarray(off));
};

const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";

async function socketFrom(values: { socket?: string; config?: string }): Promise<string> {
  if (values.socket) return values.socket;
  const env = Deno.env.get("SKIFF_SOCKET");
  if (env) return env;
  return (await loadConfig(values.config)).config.socket;
}

/** Runs one CLI command; returns the process exit code. */
export async function runCli(command: CliCommand, argv: string[]): Promise<number> {
  let parsed;
  let execCommand: string[] = [];
  if (command === "exec") {
    const split = splitExecArgs(argv);
    argv = split.options;
    execCommand = split.command;
  }
  // -f is --follow for logs but --force for rm (as in crictl).
  if (command === "rm") argv = argv.map((a) => a === "-f" ? "--force" : a);
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        output: { type: "string", short: "o", default: "table" },
        socket: { type: "string" },
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
        all: { type: "boolean", short: "a" },
        quiet: { type: "boolean", short: "q" },
        pod: { type: "string" },
        name: { type: "string" },
        namespace: { type: "string" },
        state: { type: "string" },
        label: { type: "string", multiple: true },
        follow: { type: "boolean", short: "f" },
        force: { type: "boolean" },
        tail: { type: "string" },
        since: { type: "string" },
        timestamps: { type: "boolean", short: "t" },
        interactive: { type: "boolean", short: "i" },
        timeout: { type: "string" },
        creds: { type: "string" },
        type: { type: "string" },
        tty: { type: "boolean" },
      },
    });
  } catch (err) {
    await writeErr(`skiff ${command}: ${errorMessage(err)}\n\n${CLI_HELP[command]}\n`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    await write(CLI_HELP[command] + "\n");
    return 0;
  }
  if (v.output !== "table" && v.output !== "json") {
    await writeErr(`skiff ${command}: --output ${JSON.stringify(v.output)}: use table or json\n`);
    return 2;
  }
  let client: CriClient | undefined;
  try {
    const socket = await socketFrom(v);
    if (command === "dashboard") return await dashboard(v.config, v.output === "json");
    try {
      await Deno.stat(socket);
    } catch {
      throw new UsageError(
        `no CRI socket at ${socket}: is Skiff running? (start it with \`skiff serve\`, or pass --socket)`,
      );
    }
    client = new CriClient(socket);
    const ctx: Ctx = { client, json: v.output === "json", out: write };
    switch (command) {
      case "ps":
        return await ps(ctx, v);
      case "pods":
        return await pods(ctx, v);
      case "images":
        return await images(ctx, v, parsed.positionals);
      case "pull":
        return await pull(ctx, parsed.positionals, v.creds, await adminEndpoint(v));
      case "logs":
        return await logs(ctx, parsed.positionals, v);
      case "exec":
        return await exec(ctx, execCommand, v);
      case "inspect":
        return await inspect(ctx, parsed.positionals, v.type);
      case "rm":
        return await rm(ctx, parsed.positionals, v.force === true);
      case "stats":
        return await stats(ctx, parsed.positionals, v);
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (err) {
    // `skiff logs -f | head`: the reader went away; that is the end, not a failure.
    if (err instanceof Deno.errors.BrokenPipe) return 0;
    if (err instanceof UsageError) {
      await writeErr(`skiff ${command}: ${err.message}\n`);
      return 2;
    }
    const msg = err instanceof CriCallError
      ? `${err.method}: ${err.codeName}: ${err.details}`
      : errorMessage(err);
    await writeErr(`skiff ${command}: ${msg}\n`);
    return 1;
  } finally {
    client?.close();
  }
}

type Values = {
  all?: boolean;
  quiet?: boolean;
  pod?: string;
  name?: string;
  namespace?: string;
  state?: string;
  label?: string[];
  follow?: boolean;
  tail?: string;
  since?: string;
  timestamps?: boolean;
  interactive?: boolean;
  timeout?: string;
  tty?: boolean;
};

function labels(v: Values): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of v.label ?? []) {
    const i = l.indexOf("=");
    if (i <= 0) throw new UsageError(`--label ${JSON.stringify(l)}: expected key=value`);
    out[l.slice(0, i)] = l.slice(i + 1);
  }
  return out;
}

async function ps(ctx: Ctx, v: Values): Promise<number> {
  const states: Record<string, ContainerState> = {
    created: "CONTAINER_CREATED",
    running: "CONTAINER_RUNNING",
    exited: "CONTAINER_EXITED",
    unknown: "CONTAINER_UNKNOWN",
  };
  let state: ContainerState | undefined = v.all ? undefined : "CONTAINER_RUNNING";
  if (v.state) {
    state = states[v.state.toLowerCase()];
    if (!state) throw new UsageError(`--state ${v.state}: use created, running, exited or unknown`);
  }
  const res = await ctx.client.call("ListContainers", {
    filter: {
      pod_sandbox_id: v.pod ?? "",
      state: state ? { state } : null,
      label_selector: labels(v),
    },
  });
  let list = res.containers;
  if (v.name) list = list.filter((c) => (c.metadata?.name ?? "").includes(v.name!));
  list.sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
  if (ctx.json) {
    await ctx.out(json({ containers: list }));
    return 0;
  }
  if (v.quiet) {
    await ctx.out(list.map((c) => c.id + "\n").join(""));
    return 0;
  }
  const podNames = new Map<string, string>();
  try {
    for (const p of (await ctx.client.call("ListPodSandbox", {})).items) {
      podNames.set(p.id, p.metadata?.name ?? "");
    }
  } catch {
    // pods unavailable: the POD column stays empty
  }
  await ctx.out(table(
    ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"],
    list.map((c) => [
      shortId(c.id),
      c.image?.image ?? c.image_ref,
      ago(c.created_at),
      stateName(c.state),
      c.metadata?.name ?? "",
      String(c.metadata?.attempt ?? 0),
      shortId(c.pod_sandbox_id),
      podNames.get(c.pod_sandbox_id) ?? "",
    ]),
  ));
  return 0;
}

async function pods(ctx: Ctx, v: Values): Promise<number> {
  const states: Record<string, PodSandboxState> = {
    ready: "SANDBOX_READY",
    notready: "SANDBOX_NOTREADY",
  };
  let state: PodSandboxState | undefined;
  if (v.state) {
    state = states[v.state.toLowerCase()];
    if (!state) throw new UsageError(`--state ${v.state}: use ready or notready`);
  }
  const res = await ctx.client.call("ListPodSandbox", {
    filter: { state: state ? { state } : null, label_selector: labels(v) },
  });
  let list = res.items;
  if (v.name) list = list.filter((p) => (p.metadata?.name ?? "").includes(v.name!));
  if (v.namespace) list = list.filter((p) => p.metadata?.namespace === v.namespace);
  list.sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
  if (ctx.json) {
    await ctx.out(json({ items: list }));
    return 0;
  }
  if (v.quiet) {
    await ctx.out(list.map((p) => p.id + "\n").join(""));
    return 0;
  }
  await ctx.out(table(
    ["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"],
    list.map((p) => [
      shortId(p.id),
      ago(p.created_at),
      stateName(p.state),
      p.metadata?.name ?? "",
      p.metadata?.namespace ?? "",
      String(p.metadata?.attempt ?? 0),
      p.runtime_handler || "(default)",
    ]),
  ));
  return 0;
}

async function images(ctx: Ctx, v: Values, args: string[]): Promise<number> {
  const res = await ctx.client.call("ListImages", {
    filter: args[0] ? { image: { image: args[0] } } : null,
  });
  if (ctx.json) {
    await ctx.out(json(res));
    return 0;
  }
  if (v.quiet) {
    await ctx.out(res.images.map((i) => i.id + "\n").join(""));
    return 0;
  }
  const rows: string[][] = [];
  for (const i of res.images) {
    const tags = i.repo_tags.length
      ? i.repo_tags
      : [`${i.repo_digests[0]?.split("@")[0] ?? "<none>"}:<none>`];
    for (const t of tags) {
      const [repo, tag] = splitRepoTag(t);
      rows.push([repo, tag, shortId(i.id), humanSize(i.size)]);
    }
  }
  await ctx.out(table(["IMAGE", "TAG", "IMAGE ID", "SIZE"], rows));
  return 0;
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

function pullLine(image: string, started: number, t: PullTotals | null, tick: number): string {
  const secs = ((Date.now() - started) / 1000).toFixed(1);
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
  const totals: PullTotals = { done: 0, total: 0, layers: new Map() };
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of res.body!) {
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
  ctx: Ctx,
  args: string[],
  creds: string | undefined,
  admin: AdminEndpoint | null,
): Promise<number> {
  if (args.length !== 1) throw new UsageError("expected exactly one IMAGE");
  const image = args[0];
  let auth: Record<string, string> | null = null;
  if (creds !== undefined) {
    const i = creds.indexOf(":");
    if (i < 0) throw new UsageError("--creds: expected USER:PASSWORD");
    auth = { username: creds.slice(0, i), password: creds.slice(i + 1) };
  }
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
    if (ctx.json) await ctx.out(json({ image, image_ref: res.image_ref, seconds: Number(secs) }));
    else await ctx.out(`Image is up to date for ${res.image_ref} (${secs}s)\n`);
    return 0;
  } finally {
    clearInterval(timer);
    line.clear();
  }
}

async function logs(ctx: Ctx, args: string[], v: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError("expected exactly one CONTAINER");
  let tail: number | undefined;
  if (v.tail !== undefined) {
    tail = Number(v.tail);
    if (!Number.isInteger(tail) || tail < -1) throw new UsageError("--tail: expected a number");
    if (tail === -1) tail = undefined;
  }
  let sinceMs: number | undefined;
  if (v.since) {
    const t = parseSince(v.since);
    if (t === null) throw new UsageError("--since: expected an RFC 3339 time or a duration (5m)");
    sinceMs = t;
  }
  const st = (await ctx.client.call("ContainerStatus", { container_id: args[0] })).status;
  if (!st?.log_path) throw new Error(`container ${args[0]} has no log file`);
  const render = (e: Parameters<typeof formatEntry>[0]) =>
    ctx.json ? JSON.stringify(e) + "\n" : formatEntry(e, v.timestamps === true);
  const first = await readLog(st.log_path, { tail, sinceMs });
  for (const e of first.entries) {
    await (e.stream === "stderr" && !ctx.json ? writeErr : ctx.out)(render(e));
  }
  if (!v.follow) return 0;
  const ac = new AbortController();
  const stop = () => ac.abort();
  Deno.addSignalListener("SIGINT", stop);
  try {
    for await (
      const e of followLog(st.log_path, {
        offset: first.offset,
        ino: first.ino,
        signal: ac.signal,
        sinceMs,
      })
    ) {
      await (e.stream === "stderr" && !ctx.json ? writeErr : ctx.out)(render(e));
    }
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
  }
  return 0;
}

/**
 * `exec [flags] CONTAINER CMD [ARGS...]`: flags end at the container ID; everything after
 * it is the command with its own flags (`ls -l`). `-it` is split into `-i -t`, and `-t`
 * here means --tty (for logs it means --timestamps).
 */
export function splitExecArgs(argv: string[]): { options: string[]; command: string[] } {
  const withValue = new Set(["-o", "--output", "--socket", "-c", "--config", "--timeout"]);
  const options: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("-") || a === "-") break;
    if (a === "--") {
      i++;
      break;
    }
    if (/^-[it]{2}$/.test(a)) options.push("-i", "--tty");
    else if (a === "-t") options.push("--tty");
    else options.push(a);
    if (withValue.has(a) && i + 1 < argv.length) options.push(argv[++i]);
  }
  return { options, command: argv.slice(i) };
}

async function exec(ctx: Ctx, rest: string[], v: Values): Promise<number> {
  const tty = v.tty === true;
  const stdin = v.interactive === true;
  const timeout = v.timeout === undefined ? 0 : Number(v.timeout);
  if (!Number.isInteger(timeout) || timeout < 0) {
    throw new UsageError("--timeout: expected whole seconds");
  }
  if (rest.length < 2) throw new UsageError("expected CONTAINER and a COMMAND");
  const [container, ...cmd] = rest;
  if (!tty && !stdin) {
    const res = await ctx.client.call("ExecSync", {
      container_id: container,
      cmd,
      timeout: String(timeout),
    });
    if (ctx.json) {
      const dec = new TextDecoder();
      await ctx.out(json({
        exit_code: res.exit_code,
        stdout: dec.decode(res.stdout),
        stderr: dec.decode(res.stderr),
      }));
      return 0;
    }
    await write(res.stdout);
    await writeErr(res.stderr);
    return res.exit_code;
  }
  const { url } = await ctx.client.call("Exec", {
    container_id: container,
    cmd,
    tty,
    stdin,
    stdout: true,
    stderr: !tty,
  });
  const raw = tty && Deno.stdin.isTerminal();
  if (raw) Deno.stdin.setRaw(true);
  const resizes = tty && Deno.stdout.isTerminal() ? terminalSizes() : undefined;
  try {
    return await runRemoteCommand(url, {
      stdin: stdin ? Deno.stdin.readable : undefined,
      stdout: (b) => write(b),
      stderr: (b) => writeErr(b),
      resizes,
    });
  } finally {
    if (raw) Deno.stdin.setRaw(false);
  }
}

async function* terminalSizes(): AsyncGenerator<{ width: number; height: number }> {
  let last = "";
  while (true) {
    const { columns, rows } = Deno.consoleSize();
    const key = `${columns}x${rows}`;
    if (key !== last) {
      last = key;
      yield { width: columns, height: rows };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

type Kind = "container" | "pod" | "image";

/** What an ID names: a container, a pod sandbox or an image (in that order, as crictl). */
async function resolveKind(ctx: Ctx, id: string, only?: string): Promise<Kind | null> {
  const tryCall = async (f: () => Promise<boolean>) => {
    try {
      return await f();
    } catch (err) {
      if (err instanceof CriCallError && ["NOT_FOUND", "UNIMPLEMENTED"].includes(err.codeName)) {
        return false;
      }
      throw err;
    }
  };
  if (!only || only === "container") {
    if (
      await tryCall(async () =>
        !!(await ctx.client.call("ContainerStatus", { container_id: id })).status
      )
    ) {
      return "container";
    }
  }
  if (!only || only === "pod") {
    if (
      await tryCall(async () =>
        !!(await ctx.client.call("PodSandboxStatus", { pod_sandbox_id: id })).status
      )
    ) {
      return "pod";
    }
  }
  if (!only || only === "image") {
    if (
      await tryCall(async () =>
        !!(await ctx.client.call("ImageStatus", { image: { image: id } })).image
      )
    ) {
      return "image";
    }
  }
  return null;
}

async function inspect(ctx: Ctx, ids: string[], type: string | undefined): Promise<number> {
  if (ids.length === 0) throw new UsageError("expected at least one ID");
  if (type && !["container", "pod", "image"].includes(type)) {
    throw new UsageError("--type: use container, pod or image");
  }
  const out: unknown[] = [];
  let failed = 0;
  for (const id of ids) {
    const kind = await resolveKind(ctx, id, type);
    if (kind === "container") {
      out.push(await ctx.client.call("ContainerStatus", { container_id: id, verbose: true }));
    } else if (kind === "pod") {
      out.push(await ctx.client.call("PodSandboxStatus", { pod_sandbox_id: id, verbose: true }));
    } else if (kind === "image") {
      out.push(await ctx.client.call("ImageStatus", { image: { image: id }, verbose: true }));
    } else {
      failed++;
      await writeErr(`skiff inspect: no container, pod or image ${JSON.stringify(id)}\n`);
    }
  }
  // Verbose `info` values are JSON documents in strings; show them as JSON.
  const expand = (v: unknown): unknown => {
    if (v && typeof v === "object" && "info" in v) {
      const info = (v as { info: Record<string, string> }).info;
      const parsed: Record<string, unknown> = {};
      for (const [k, s] of Object.entries(info)) {
        try {
          parsed[k] = JSON.parse(s);
        } catch {
          parsed[k] = s;
        }
      }
      return { ...v, info: parsed };
    }
    return v;
  };
  const docs = out.map(expand);
  if (docs.length) await ctx.out(json(docs.length === 1 ? docs[0] : docs));
  return failed ? 1 : 0;
}

async function rm(ctx: Ctx, ids: string[], force: boolean): Promise<number> {
  if (ids.length === 0) throw new UsageError("expected at least one ID");
  let failed = 0;
  const done: { id: string; kind: Kind }[] = [];
  for (const id of ids) {
    try {
      const kind = await resolveKind(ctx, id);
      if (kind === "container") {
        if (force) await ctx.client.call("StopContainer", { container_id: id, timeout: "0" });
        await ctx.client.call("RemoveContainer", { container_id: id });
      } else if (kind === "pod") {
        if (force) await ctx.client.call("StopPodSandbox", { pod_sandbox_id: id });
        await ctx.client.call("RemovePodSandbox", { pod_sandbox_id: id });
      } else if (kind === "image") {
        await ctx.client.call("RemoveImage", { image: { image: id } });
      } else {
        throw new Error(`no container, pod or image ${JSON.stringify(id)}`);
      }
      done.push({ id, kind });
      if (!ctx.json) await ctx.out(`Removed ${kind} ${id}\n`);
    } catch (err) {
      failed++;
      const msg = err instanceof CriCallError
        ? `${err.codeName}: ${err.details}`
        : errorMessage(err);
      await writeErr(`skiff rm: ${id}: ${msg}\n`);
    }
  }
  if (ctx.json) await ctx.out(json({ removed: done }));
  return failed ? 1 : 0;
}

async function stats(ctx: Ctx, ids: string[], v: Values): Promise<number> {
  let list: ContainerStats[];
  if (ids.length) {
    list = [];
    for (const id of ids) {
      const s = (await ctx.client.call("ContainerStats", { container_id: id })).stats;
      if (s) list.push(s);
    }
  } else {
    list = (await ctx.client.call("ListContainerStats", {
      filter: { pod_sandbox_id: v.pod ?? "", label_selector: labels(v) },
    })).stats;
  }
  if (!ids.length && !v.all) {
    // Like crictl: only running containers unless -a.
    try {
      const running = new Set(
        (await ctx.client.call("ListContainers", {
          filter: { state: { state: "CONTAINER_RUNNING" } },
        })).containers.map((c) => c.id),
      );
      list = list.filter((s) => running.has(s.attributes?.id ?? ""));
    } catch {
      // without ListContainers, show every container's stats
    }
  }
  if (ctx.json) {
    await ctx.out(json({ stats: list }));
    return 0;
  }
  const num = (x: { value: string } | null | undefined) => (x ? Number(x.value) : null);
  await ctx.out(table(
    ["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"],
    list.map((s) => {
      const cores = num(s.cpu?.usage_nano_cores);
      const mem = num(s.memory?.working_set_bytes);
      const disk = num(s.writable_layer?.used_bytes);
      const inodes = num(s.writable_layer?.inodes_used);
      return [
        shortId(s.attributes?.id ?? ""),
        s.attributes?.metadata?.name ?? "",
        cores === null ? "-" : (cores / 1e7).toFixed(2),
        mem === null ? "-" : humanSize(mem),
        disk === null ? "-" : humanSize(disk),
        inodes === null ? "-" : String(inodes),
      ];
    }),
  ));
  return 0;
}

async function dashboard(configPath: string | undefined, asJson: boolean): Promise<number> {
  const { config } = await loadConfig(configPath);
  if (!config.admin.address) {
    throw new UsageError("the admin server is disabled (admin.address is empty)");
  }
  let token: string;
  try {
    token = (await Deno.readTextFile(adminTokenFile(config))).trim();
  } catch (err) {
    throw new Error(
      `cannot read the admin token at ${adminTokenFile(config)} (${errorMessage(err)}); ` +
        "run as root, and start Skiff once so that it creates the token",
    );
  }
  const scheme = config.admin.tls_cert ? "https" : "http";
  const url = `${scheme}://${config.admin.address}/#token=${token}`;
  await write(asJson ? json({ url }) : url + "\n");
  return 0;
}
