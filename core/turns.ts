/**
 * Turns of the event loop, handed out one at a time in arrival order (setImmediate: a later
 * turn, after the microtasks that send what is ready). The CRI dispatcher starts calls that
 * change state this way (cri/dispatch.ts).
 */
import { setImmediate } from "node:timers";

export class Turns {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  /** Runs `fn` at its turn (synchronously there). */
  run(fn: () => void): void {
    this.waiting.push(fn);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      try {
        this.waiting.shift()!();
      } finally {
        this.schedule();
      }
    });
  }
}
