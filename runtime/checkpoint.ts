/**
 * CheckpointContainer: `runc checkpoint --leave-running` (which drives CRIU) into a work
 * directory, then one archive at the requested location holding the CRIU images
 * (`checkpoint/`), the container's OCI spec (`spec.dump`, `config.dump`) and its writable
 * layer (`rootfs-diff.tar`), the layout CRI-O and Podman use, so it can be restored there.
 *
 * CRIU needs kernel features that not every kernel (or VM sandbox) offers. `criu check` is
 * asked once; when it fails, checkpointing is refused with FAILED_PRECONDITION quoting what
 * CRIU said, rather than failing halfway through a dump.
 */
import { dirname } from "node:path";
import {
  DeadlineExceededError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
} from "../core/errors.ts";
import type { ContainerStateName } from "./contracts.ts";

export interface CheckpointTarget {
  id: string;
  state: ContainerStateName;
  bundleDir: string;
  /** The writable layer (overlay upperdir), archived as rootfs-diff.tar. */
  upperDir: string;
  runtimeBinary: string;
  runtimeRoot: string;
  runtimeOptions: string[];
  /** Extra metadata stored as config.dump (name, image, pod…). */
  metadata: Record<string, unknown>;
}

export interface CriuStatus {
  usable: boolean;
  /** Why not, in CRIU's words (or that it is not installed). */
  reason: string;
}

async function output(cmd: string, args: string[], timeoutMs: number) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    return { ok: out.success, text: text.trim(), timedOut: ac.signal.aborted };
  } finally {
    clearTimeout(timer);
  }
}

/** Whether CRIU can checkpoint on this kernel (`criu check`), asked once per binary. */
export class CriuProbe {
  private cached: Promise<CriuStatus> | null = null;
  constructor(readonly binary = "criu") {}

  status(): Promise<CriuStatus> {
    this.cached ??= (async () => {
      try {
        const r = await output(this.binary, ["check"], 30_000);
        if (r.ok) return { usable: true, reason: "" };
        const errors = r.text.split("\n").filter((l) => /error/i.test(l)).slice(0, 4);
        return { usable: false, reason: (errors.length ? errors : [r.text]).join("; ") };
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) {
          return { usable: false, reason: `${this.binary} is not installed (Debian package criu)` };
        }
        return { usable: false, reason: String(err) };
      }
    })();
    return this.cached;
  }
}

/** Archive flags for the location's extension: .tar.gz/.tgz compressed, anything else plain. */
function tarCompression(location: string): string[] {
  return /\.(tar\.gz|tgz)$/.test(location) ? ["-z"] : [];
}

export async function checkpointContainer(
  target: CheckpointTarget,
  location: string,
  opts: { criu: CriuProbe; timeoutSeconds?: number },
): Promise<void> {
  if (!location || !location.startsWith("/")) {
    throw new InvalidArgumentError(
      `checkpoint location "${location}" must be an absolute path for the archive to write`,
    );
  }
  if (target.state !== "CONTAINER_RUNNING") {
    throw new FailedPreconditionError(
      `container ${target.id} is ${target.state}, not running; only a running container can be checkpointed`,
    );
  }
  const criu = await opts.criu.status();
  if (!criu.usable) {
    throw new FailedPreconditionError(
      `checkpointing needs CRIU, which cannot work on this node: ${criu.reason}. ` +
        `\`criu check\` must pass (a kernel with the features CRIU needs) before containers can be checkpointed`,
    );
  }
  const timeoutMs = (opts.timeoutSeconds && opts.timeoutSeconds > 0 ? opts.timeoutSeconds : 300) *
    1000;
  const work = await Deno.makeTempDir({ dir: target.bundleDir, prefix: "checkpoint-" });
  try {
    await Deno.mkdir(`${work}/archive/checkpoint`, { recursive: true });
    const dump = await output(target.runtimeBinary, [
      "--root",
      target.runtimeRoot,
      ...target.runtimeOptions,
      "checkpoint",
      "--leave-running",
      "--image-path",
      `${work}/archive/checkpoint`,
      "--work-path",
      `${work}/work`,
      target.id,
    ], timeoutMs);
    if (dump.timedOut) {
      throw new DeadlineExceededError(
        `checkpoint of container ${target.id} did not finish within ${timeoutMs / 1000} s`,
      );
    }
    if (!dump.ok) {
      const log = await Deno.readTextFile(`${work}/work/dump.log`).catch(() => "");
      const lastErrors = log.split("\n").filter((l) => /Error/.test(l)).slice(-3).join("; ");
      throw new InternalError(
        `runc checkpoint of container ${target.id} failed: ${dump.text}${
          lastErrors ? ` (criu: ${lastErrors})` : ""
        }`,
      );
    }
    await Deno.copyFile(`${target.bundleDir}/config.json`, `${work}/archive/spec.dump`);
    await Deno.writeTextFile(
      `${work}/archive/config.dump`,
      JSON.stringify({ id: target.id, ...target.metadata }),
    );
    const diff = await output("tar", [
      "-C",
      target.upperDir,
      "-cf",
      `${work}/archive/rootfs-diff.tar`,
      ".",
    ], timeoutMs);
    if (!diff.ok) throw new InternalError(`archiving the writable layer failed: ${diff.text}`);
    await Deno.mkdir(dirname(location), { recursive: true });
    // Written beside the target and renamed: a failed checkpoint never leaves half an archive.
    const partial = `${location}.partial`;
    const tar = await output("tar", [
      ...tarCompression(location),
      "-C",
      `${work}/archive`,
      "-cf",
      partial,
      ".",
    ], timeoutMs);
    if (!tar.ok) {
      await Deno.remove(partial).catch(() => {});
      throw new InternalError(`writing checkpoint archive ${location} failed: ${tar.text}`);
    }
    await Deno.rename(partial, location);
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}
