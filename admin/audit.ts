/**
 * The admin audit log: one JSON line per exec, attach or port-forward started through the
 * admin API (who asked, from where, for which container, which command). Appended to a
 * 0600 file; a failed write is logged but never blocks the operation it records.
 */
import { dirname } from "node:path";
import { auditLogFile, type Config } from "../core/config/mod.ts";
import type { Logger } from "../core/log.ts";

export interface AuditEntry {
  action: "exec" | "exec_sync" | "attach" | "port_forward";
  /** Container ID, or pod sandbox ID for port-forward. */
  target: string;
  command?: string[];
  ports?: number[];
  tty?: boolean;
  remote: string;
  userAgent: string;
}

export interface AuditSink {
  record(entry: AuditEntry): Promise<void>;
}

export class FileAuditLog implements AuditSink {
  private chain: Promise<void> = Promise.resolve();
  constructor(readonly path: string, private readonly log?: Logger) {}

  /** At admin.audit_log, or <root_dir>/audit.log. */
  static forConfig(config: Config, log?: Logger): FileAuditLog {
    return new FileAuditLog(auditLogFile(config), log);
  }

  record(entry: AuditEntry): Promise<void> {
    const line = JSON.stringify({ time: new Date().toISOString(), ...entry }) + "\n";
    // Serialised so concurrent requests never interleave bytes within a line.
    this.chain = this.chain.then(async () => {
      try {
        await Deno.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
        await Deno.writeTextFile(this.path, line, { append: true, create: true, mode: 0o600 });
      } catch (err) {
        this.log?.error("audit log write failed", { path: this.path, error: err });
      }
    });
    return this.chain;
  }
}
