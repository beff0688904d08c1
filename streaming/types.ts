/** What the streaming server asks of the runtime, and what it hands over. */

// The byte-stream shapes are the seam runtime/ and network/ implement: they live with the
// other seams in runtime/contracts.ts.
import type { CommandStreams, DuplexStreams, TerminalSize } from "../runtime/contracts.ts";
export type { CommandStreams, DuplexStreams, TerminalSize };

export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface PortForwardRequest {
  podSandboxId: string;
  /** Ports the CRI request named; empty = any port the client asks for. */
  ports: number[];
}

/** The runtime side the streaming server drives. */
export interface StreamingBackend {
  /** Runs the command; resolves with its exit code once its output was fully delivered. */
  exec(req: ExecRequest, streams: CommandStreams, signal: AbortSignal): Promise<number>;
  /** Attaches to the container's stdio until it exits or the client leaves. */
  attach(req: AttachRequest, streams: CommandStreams, signal: AbortSignal): Promise<void>;
  /**
   * Connects `conn` to `port` inside the pod's network namespace until either side ends.
   * Rejects (with a message for the client) when the connection cannot be made.
   */
  portForward(
    podSandboxId: string,
    port: number,
    conn: DuplexStreams,
    signal: AbortSignal,
  ): Promise<void>;
}

/** A command that ran and failed with a non-zero exit code (the v4 `NonZeroExitCode`). */
export class ExitCodeError extends Error {
  constructor(readonly exitCode: number, readonly cmd: string[]) {
    super(
      `command terminated with non-zero exit code: error executing command ${
        JSON.stringify(cmd)
      }, exit code ${exitCode}`,
    );
  }
}
