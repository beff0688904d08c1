/**
 * Notices containers that exit on their own: conmon writes `<exit dir>/<container id>` when
 * the container's process ends, and this watcher (inotify through Deno.watchFs) tells the
 * container service to settle that container at once, which records the exit and publishes
 * CONTAINER_STOPPED_EVENT — without it the exit is only noticed at the next status call.
 */
import type { Logger } from "../core/log.ts";

export interface ExitWatcherOptions {
  dir: string;
  /**
   * Called with the container ID whose exit file appeared or changed; returns whether the
   * exit is now settled. conmon writes its exit-dir file before the persist-dir one the
   * service reads, so an unsettled exit is asked again a few times shortly after.
   */
  onExit: (id: string) => boolean;
  log: Logger;
  /** A safety net for missed inotify events (overflow): rescan this often. 0 = never. */
  rescanMs?: number;
}

export class ExitWatcher {
  private watcher: Deno.FsWatcher | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private done: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ExitWatcherOptions) {}

  async start(): Promise<void> {
    await Deno.mkdir(this.opts.dir, { recursive: true, mode: 0o700 });
    const w = Deno.watchFs(this.opts.dir, { recursive: false });
    this.watcher = w;
    this.done = (async () => {
      try {
        for await (const ev of w) {
          // conmon writes the file under a temporary name and renames it into place.
          if (ev.kind === "access" || ev.kind === "remove") continue;
          for (const p of ev.paths) this.notify(p.slice(p.lastIndexOf("/") + 1));
        }
      } catch (err) {
        this.opts.log.warn("exit watcher stopped", { err: String(err) });
      }
    })();
    await this.rescan();
    if (this.opts.rescanMs) {
      this.timer = setInterval(() => this.rescan(), this.opts.rescanMs);
      Deno.unrefTimer(this.timer);
    }
  }

  private readonly retrying = new Set<string>();
  private closed = false;

  private notify(id: string): void {
    if (!id || id.startsWith(".") || this.retrying.has(id)) return;
    if (this.settle(id)) return;
    this.retrying.add(id);
    let delay = 10;
    const retry = () => {
      if (this.closed || this.settle(id) || delay > 1280) {
        this.retrying.delete(id);
        return;
      }
      delay *= 2;
      setTimeout(retry, delay);
    };
    setTimeout(retry, delay);
  }

  private settle(id: string): boolean {
    try {
      return this.opts.onExit(id);
    } catch (err) {
      // a removed container: nothing left to settle
      this.opts.log.debug("exit not settled", { id, err: String(err) });
      return true;
    }
  }

  private async rescan(): Promise<void> {
    try {
      for await (const e of Deno.readDir(this.opts.dir)) if (e.isFile) this.notify(e.name);
    } catch {
      // the directory went away with the state dir: nothing to settle
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    try {
      this.watcher?.close();
    } catch { /* already closed */ }
    this.watcher = null;
    await this.done;
  }
}
