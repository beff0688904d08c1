/// <reference lib="dom" />
/**
 * The terminal tab: xterm.js over the admin API's WebSocket exec (v5.channel.k8s.io), or,
 * for a Skiff without streaming Exec, a line mode that runs each line through ExecSync.
 */
import { FitAddon } from "@xterm/addon-fit";
import { Terminal } from "@xterm/xterm";
import { api } from "./api.ts";
import { byId, input, messageOf, select } from "./dom.ts";
import { state } from "./state.ts";
import { showTab } from "./tabs.ts";
import type { ExecSyncResult } from "./types.ts";

/** What the terminal talks to: keystrokes in, size changes, and an end. */
interface Session {
  input(data: string): void;
  resize(cols: number, rows: number): void;
  close(): void;
}

/** v5.channel.k8s.io channels. */
const STDIN = 0, STDOUT = 1, STDERR = 2, STATUS = 3, RESIZE = 4;
const TOKEN_PROTOCOL_PREFIX = "base64url.bearer.authorization.k8s.io.";

let term: Terminal | null = null;
let fitAddon: FitAddon | null = null;
let session: Session | null = null;

function ensureTerminal(): Terminal {
  if (term) return term;
  const t = new Terminal({
    cursorBlink: true,
    fontFamily: "ui-monospace, DejaVu Sans Mono, Menlo, monospace",
    fontSize: 13,
    theme: { background: "#000000" },
    convertEol: false,
  });
  fitAddon = new FitAddon();
  t.loadAddon(fitAddon);
  t.open(byId("terminal"));
  t.onData((d) => session?.input(d));
  t.onResize((s) => session?.resize(s.cols, s.rows));
  term = t;
  fitTerminal();
  return t;
}

/** Fits the terminal to its box, when it is on screen. */
export function fitTerminal(): void {
  if (term && fitAddon && state.tab === "terminal") {
    try {
      fitAddon.fit();
    } catch {
      // not visible yet
    }
  }
}

const enc = new TextEncoder();
function frame(channel: number, data: string | Uint8Array): Uint8Array {
  const b = typeof data === "string" ? enc.encode(data) : data;
  const f = new Uint8Array(b.length + 1);
  f[0] = channel;
  f.set(b, 1);
  return f;
}

function execUrl(id: string, command: string[]): string {
  const q = new URLSearchParams({ tty: "1", stdin: "1" });
  for (const part of command) q.append("command", part);
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    "/api/v1/containers/" + encodeURIComponent(id) + "/exec?" + q;
}

/** The status channel's JSON (a Kubernetes Status): a message unless it says Success. */
function writeStatus(t: Terminal, text: string): void {
  try {
    const st = JSON.parse(text) as { status?: string; message?: string; reason?: string };
    if (st.status !== "Success") t.write("\r\n[" + (st.message || st.reason) + "]\r\n");
  } catch {
    t.write("\r\n[" + text + "]\r\n");
  }
}

/** Interactive: WebSocket v5.channel.k8s.io through the admin API. */
function wsSession(t: Terminal, id: string, command: string[]): Session {
  const b64 = btoa(state.token).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const ws = new WebSocket(execUrl(id, command), [
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    TOKEN_PROTOCOL_PREFIX + b64,
  ]);
  ws.binaryType = "arraybuffer";
  const dec = new TextDecoder();
  const status = byId("term-status");
  const sendSize = (w: number, hh: number) =>
    ws.send(frame(RESIZE, JSON.stringify({ Width: w, Height: hh })));
  ws.onopen = () => {
    status.textContent = "connected (" + ws.protocol + ")";
    sendSize(t.cols, t.rows);
    t.focus();
  };
  ws.onmessage = (m: MessageEvent<ArrayBuffer>) => {
    const d = new Uint8Array(m.data);
    if (d[0] === STDOUT || d[0] === STDERR) t.write(d.subarray(1));
    if (d[0] === STATUS) writeStatus(t, dec.decode(d.subarray(1)));
  };
  ws.onclose = () => {
    status.textContent = "disconnected";
    t.write("\r\n[session closed]\r\n");
    session = null;
  };
  const open = () => ws.readyState === WebSocket.OPEN;
  return {
    input: (d) => open() && ws.send(frame(STDIN, d)),
    resize: (w, hh) => open() && sendSize(w, hh),
    close: () => ws.close(),
  };
}

/** Runs one line with `sh -c` through ExecSync and writes its output. */
async function runLine(t: Terminal, id: string, cmd: string): Promise<void> {
  try {
    const res = await api("/containers/" + encodeURIComponent(id) + "/exec_sync", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cmd: ["sh", "-c", cmd], timeout_seconds: 30 }),
    });
    const r = await res.json() as ExecSyncResult;
    t.write((r.stdout + r.stderr).replace(/\r?\n/g, "\r\n"));
    if (r.exit_code !== 0) t.write("[exit " + r.exit_code + "]\r\n");
  } catch (err) {
    t.write("[" + messageOf(err) + "]\r\n");
  }
}

/**
 * Line mode, for a Skiff without the streaming Exec: each line runs as `sh -c LINE`
 * through ExecSync; local line editing only.
 */
function lineSession(t: Terminal, id: string): Session {
  let line = "";
  let busy = false;
  const prompt = () => t.write("\x1b[1;32m$\x1b[0m ");
  byId("term-status").textContent = "line mode (ExecSync)";
  t.write("[line mode: each line runs with sh -c]\r\n");
  prompt();
  t.focus();
  const input = async (d: string) => {
    if (busy) return;
    for (const ch of d) {
      if (ch === "\r") {
        t.write("\r\n");
        const cmd = line;
        line = "";
        if (!cmd.trim()) {
          prompt();
          continue;
        }
        busy = true;
        await runLine(t, id, cmd);
        busy = false;
        prompt();
      } else if (ch === "\x7f") {
        if (line) {
          line = line.slice(0, -1);
          t.write("\b \b");
        }
      } else if (ch >= " ") {
        line += ch;
        t.write(ch);
      }
    }
  };
  return { input: (d) => void input(d), resize: () => {}, close: () => {} };
}

function connect(): void {
  disconnect();
  const id = select("term-container").value;
  if (!id) {
    byId("term-status").textContent = "no running container";
    return;
  }
  const t = ensureTerminal();
  t.reset();
  const command = input("term-command").value.trim().split(/\s+/).filter(Boolean);
  if (state.caps.Exec) session = wsSession(t, id, command.length ? command : ["sh"]);
  else if (state.caps.ExecSync) session = lineSession(t, id);
  else byId("term-status").textContent = "this Skiff does not serve exec yet";
}

function disconnect(): void {
  session?.close();
  session = null;
}

export function openTerminal(id: string): void {
  showTab("terminal");
  select("term-container").value = id;
  connect();
}

export function setUpTerminal(): void {
  byId("term-connect").addEventListener("click", () => connect());
  byId("term-disconnect").addEventListener("click", () => disconnect());
}
