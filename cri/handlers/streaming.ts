/** ExecSync, Exec, Attach, PortForward: validate, then run (ExecSync) or hand out a URL. */
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../core/errors.ts";
import type { ContainerLookup, SandboxProvider } from "../../runtime/contracts.ts";
import { execSync, requireRunning, validateExecCommand } from "../../runtime/exec.ts";
import type { StreamingServer } from "../../streaming/server.ts";
import type { CriHandlers } from "../handler.ts";

export interface StreamingHandlerDeps {
  containers: ContainerLookup;
  sandboxes: SandboxProvider;
  server: StreamingServer;
}

function requireCmd(cmd: string[] | undefined): string[] {
  if (!cmd?.length || !cmd[0]) {
    throw new InvalidArgumentError("cmd is empty; give a command to run");
  }
  validateExecCommand(cmd);
  return cmd;
}

function requireStreams(r: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }) {
  if (!r.stdin && !r.stdout && !r.stderr) {
    throw new InvalidArgumentError("one of stdin, stdout and stderr must be requested");
  }
  if (r.tty && r.stderr) {
    throw new InvalidArgumentError(
      "tty and stderr cannot both be requested: a terminal has one output stream",
    );
  }
}

export function streamingHandlers(deps: StreamingHandlerDeps): CriHandlers {
  const running = (id: string) => {
    if (!id) throw new InvalidArgumentError("container_id is empty");
    const c = deps.containers.getContainerForStreaming(id);
    if (!c) throw new NotFoundError(`container ${id} not found`);
    return requireRunning(c, id);
  };

  return {
    ExecSync: async (req, ctx) => {
      const c = running(req.container_id);
      const timeoutSeconds = Number(req.timeout || 0);
      if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 0) {
        throw new InvalidArgumentError(`timeout ${req.timeout} is not a number of seconds >= 0`);
      }
      const r = await execSync(c, requireCmd(req.cmd), timeoutSeconds * 1000, {
        signal: ctx.signal,
      });
      return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
    },

    Exec: async (req) => {
      const c = running(req.container_id);
      requireStreams(req);
      const url = deps.server.url({
        kind: "exec",
        req: {
          containerId: c.id,
          cmd: requireCmd(req.cmd),
          tty: req.tty,
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr,
        },
      });
      return { url };
    },

    Attach: async (req) => {
      const c = running(req.container_id);
      requireStreams(req);
      if (req.stdin && !c.stdin) {
        throw new FailedPreconditionError(
          `container ${c.id} was not created with stdin; attach without stdin`,
        );
      }
      // As containerd and CRI-O: the container's own terminal setting decides.
      const url = deps.server.url({
        kind: "attach",
        req: {
          containerId: c.id,
          tty: c.tty,
          stdin: req.stdin,
          stdout: req.stdout,
          stderr: req.stderr && !c.tty,
        },
      });
      return { url };
    },

    PortForward: async (req) => {
      if (!req.pod_sandbox_id) throw new InvalidArgumentError("pod_sandbox_id is empty");
      const sb = deps.sandboxes.getSandbox(req.pod_sandbox_id);
      if (!sb) throw new NotFoundError(`pod sandbox ${req.pod_sandbox_id} not found`);
      if (sb.state !== "SANDBOX_READY") {
        throw new FailedPreconditionError(
          `pod sandbox ${sb.id} is not ready (state ${sb.state}); port-forward needs a ready pod`,
        );
      }
      for (const p of req.port ?? []) {
        if (!Number.isInteger(p) || p < 1 || p > 65535) {
          throw new InvalidArgumentError(`port ${p} is not a TCP port (1-65535)`);
        }
      }
      const url = deps.server.url({
        kind: "portforward",
        req: { podSandboxId: sb.id, ports: [...(req.port ?? [])] },
      });
      return { url };
    },
  };
}
