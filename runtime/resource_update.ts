/**
 * UpdateContainerResources on a live container: `runc update --resources` while it runs,
 * and the bundle's config.json either way, so the spec on disk matches what the container
 * has. The resources come checked and converted by spec/resources.ts.
 */
import { FailedPreconditionError, InternalError } from "../core/errors.ts";
import type { ContainerStateName } from "./contracts.ts";
import { mergeResources, type OciLinuxResources } from "./spec/mod.ts";

/** What updating a container needs to know about it. */
export interface ResourceUpdateTarget {
  id: string;
  state: ContainerStateName;
  bundleDir: string;
  runtimeBinary: string;
  runtimeRoot: string;
  runtimeOptions: string[];
}

/**
 * Applies resources to a container: `runc update` while it runs, and config.json either
 * way (a created container gets them when it starts). Exited containers are refused.
 */
export async function applyResources(
  target: ResourceUpdateTarget,
  resources: OciLinuxResources,
): Promise<void> {
  if (target.state === "CONTAINER_EXITED" || target.state === "CONTAINER_UNKNOWN") {
    throw new FailedPreconditionError(
      `container ${target.id} is ${target.state}; resources can only be updated on a created or running container`,
    );
  }
  if (target.state === "CONTAINER_RUNNING") {
    const file = `${target.bundleDir}/resources-update.json`;
    const log = `${target.bundleDir}/runtime-update.log`;
    await Deno.writeTextFile(file, JSON.stringify(resources));
    try {
      const out = await new Deno.Command(target.runtimeBinary, {
        args: [
          "--root",
          target.runtimeRoot,
          "--log",
          log,
          ...target.runtimeOptions,
          "update",
          "--resources",
          file,
          target.id,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        const stderr = new TextDecoder().decode(out.stderr).trim();
        const runtimeLog = await Deno.readTextFile(log).catch(() => "");
        const detail = [stderr, lastErrorLine(runtimeLog)].filter(Boolean).join("; ");
        throw new InternalError(
          `${target.runtimeBinary} update of container ${target.id} failed: ${detail}`,
        );
      }
    } finally {
      await Deno.remove(file).catch(() => {});
      await Deno.remove(log).catch(() => {});
    }
  }
  const specPath = `${target.bundleDir}/config.json`;
  const spec = JSON.parse(await Deno.readTextFile(specPath));
  spec.linux ??= {};
  spec.linux.resources = mergeResources(spec.linux.resources, resources);
  const tmp = `${specPath}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(spec), { mode: 0o600 });
  await Deno.rename(tmp, specPath);
}

/** runc logs JSON lines; the last "error" message is the useful one. */
function lastErrorLine(log: string): string {
  const lines = log.trim().split("\n").reverse();
  for (const l of lines) {
    try {
      const j = JSON.parse(l);
      if (j.level === "error" && j.msg) return String(j.msg);
    } catch {
      if (l.trim()) return l.trim();
    }
  }
  return "";
}
