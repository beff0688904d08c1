/**
 * Structured logging: one line per event, logfmt (default) or JSON lines, to stderr.
 * A single process-wide logger, configured once at start-up (and again on reload).
 */

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "logfmt" | "json";
export type LogFields = Record<string, unknown>;

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

interface LoggerState {
  level: LogLevel;
  format: LogFormat;
  write: (line: string) => void;
}

const encoder = new TextEncoder();
const state: LoggerState = {
  level: "info",
  format: "logfmt",
  write: (line) => {
    try {
      Deno.stderr.writeSync(encoder.encode(line + "\n"));
    } catch {
      // stderr closed: nothing sensible left to do with a log line.
    }
  },
};

export function configureLogging(
  opts: { level?: LogLevel; format?: LogFormat; write?: (line: string) => void },
): void {
  if (opts.level) state.level = opts.level;
  if (opts.format) state.format = opts.format;
  if (opts.write) state.write = opts.write;
}

function logfmtValue(v: unknown): string {
  let s: string;
  if (v instanceof Error) s = v.message;
  else if (typeof v === "string") s = v;
  else if (v === undefined) s = "";
  else if (typeof v === "bigint") s = v.toString();
  else if (typeof v === "object" && v !== null) s = JSON.stringify(v);
  else s = String(v);
  return /^[^\s"=\\]+$/.test(s) ? s : JSON.stringify(s);
}

export function formatLine(
  format: LogFormat,
  level: LogLevel,
  component: string,
  msg: string,
  fields: LogFields,
  now = new Date(),
): string {
  if (format === "json") {
    const rec: LogFields = { time: now.toISOString(), level, component, msg };
    for (const [k, v] of Object.entries(fields)) {
      rec[k] = v instanceof Error ? v.message : typeof v === "bigint" ? v.toString() : v;
    }
    return JSON.stringify(rec);
  }
  const parts = [
    `time=${now.toISOString()}`,
    `level=${level}`,
    `component=${component}`,
    `msg=${logfmtValue(msg)}`,
  ];
  for (const [k, v] of Object.entries(fields)) parts.push(`${k}=${logfmtValue(v)}`);
  return parts.join(" ");
}

export class Logger {
  constructor(readonly component: string) {}
  child(component: string): Logger {
    return new Logger(`${this.component}.${component}`);
  }
  private emit(level: LogLevel, msg: string, fields: LogFields): void {
    if (LEVEL_ORDER[level] < LEVEL_ORDER[state.level]) return;
    state.write(formatLine(state.format, level, this.component, msg, fields));
  }
  debug(msg: string, fields: LogFields = {}): void {
    this.emit("debug", msg, fields);
  }
  info(msg: string, fields: LogFields = {}): void {
    this.emit("info", msg, fields);
  }
  warn(msg: string, fields: LogFields = {}): void {
    this.emit("warn", msg, fields);
  }
  error(msg: string, fields: LogFields = {}): void {
    this.emit("error", msg, fields);
  }
}

export function logger(component: string): Logger {
  return new Logger(component);
}
