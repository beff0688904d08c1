/**
 * Turns of the event loop, handed out one at a time in arrival order (setImmediate: a later
 * turn, after the microtasks that send what is ready). The CRI dispatcher starts calls that
 * change state this way (cri/dispatch.ts).
 *
 * A turn may be held while its gate says so (the caller's connection has replies queued
 * behind the client's flow-control window), rechecked every RECHECK_MS for at most
 * MAX_HOLD_MS. A burst's state changes each start with a spawn or more, and while they run
 * back to back Deno polls the socket rarely: in the 200-call mix the client's WINDOW_UPDATEs
 * reached the daemon 17–57 ms late, three times over, and the reads' replies with them
 * (docs/benchmarks.md). Held, the loop is free to read the update and write the replies.
 * Calls of other connections go first meanwhile, so a client that never reads slows only its
 * own calls.
 */
import { setImmediate } from "node:timers";

const RECHECK_MS = 2;
const MAX_HOLD_MS = 50;

/** What may hold a turn: a CRI connection whose replies wait for the client's window. */
export interface TurnGate {
  readonly repliesWaiting: boolean;
}

interface Waiting {
  fn: () => void;
  gate?: TurnGate;
  /** When it first found its turn held. */
  heldSince?: number;
}

export class Turns {
  private readonly waiting: Waiting[] = [];
  private scheduled = false;

  /** Runs `fn` at its turn (synchronously there); held while `gate` has replies waiting. */
  run(fn: () => void, gate?: TurnGate): void {
    this.waiting.push({ fn, gate });
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0) return;
    this.scheduled = true;
    setImmediate(() => this.next());
  }

  private next(): void {
    this.scheduled = false;
    const now = performance.now();
    const waitingGates = new Map<TurnGate, boolean>();
    // The first call not held: calls of other connections may pass a held one, never their
    // own connection's earlier calls (those are held alike).
    const i = this.waiting.findIndex((w) => !this.held(w, now, waitingGates));
    if (i < 0) {
      this.scheduled = true;
      setTimeout(() => this.next(), RECHECK_MS);
      return;
    }
    const [turn] = this.waiting.splice(i, 1);
    try {
      turn.fn();
    } finally {
      this.schedule();
    }
  }

  /** Whether `w` waits on; each gate is asked once per turn (the answer walks its streams). */
  private held(w: Waiting, now: number, gates: Map<TurnGate, boolean>): boolean {
    if (!w.gate) return false;
    let waiting = gates.get(w.gate);
    if (waiting === undefined) gates.set(w.gate, waiting = w.gate.repliesWaiting);
    if (!waiting) return false;
    w.heldSince ??= now;
    return now - w.heldSince < MAX_HOLD_MS;
  }
}
