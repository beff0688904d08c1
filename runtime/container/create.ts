/**
 * CreateContainer: checks the request, records the container as being created (so a crash
 * leaves it to clean), mounts its rootfs and image volumes, resolves its user and writes
 * its OCI spec. A failed create leaves nothing behind.
 */
import { dirname } from "node:path";
import {
  AlreadyExistsError,
  errorMessage,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../core/errors.ts";
import { hasCapability, ownBoundingCapabilities } from "../../linux/capabilities.ts";
import { deviceOf, hostDevices } from "../../linux/devices.ts";
import { mountPropagation } from "../../linux/mounts.ts";
import { parseSignal } from "../../linux/signals.ts";
import type { ImageForContainer, SandboxForContainer } from "../contracts.ts";
import type { ContainerConfig, Mount } from "../model.ts";
import { ociRuntimeFor, type ResolvedRuntimeHandler } from "../oci.ts";
import { mountReadOnlyLayers, mountRootfs, rootfsIdmapFor } from "../rootfs.ts";
import { buildSpec, resolveInRoot, resolveUser, type SpecHost } from "../spec/mod.ts";
import { idmapBindMounts } from "./idmap_mounts.ts";
import { type ContainerRecord, nameKey } from "./record.ts";
import { destroyContainer } from "./remove.ts";
import { validateContainerConfig } from "./validate.ts";
import type { ContainerContext } from "./service.ts";
import { initialState, phaseOf, transition } from "./state.ts";

/** The host facts a spec is built from. */
const SPEC_HOST: SpecHost = { device: deviceOf, hostDevices, mountPropagation };

/** A create request that passed its checks, with what it refers to. */
interface CheckedCreate {
  sandbox: SandboxForContainer;
  image: ImageForContainer;
  handler: ResolvedRuntimeHandler;
  name: string;
  attempt: number;
  imageRef: string;
}

export async function createContainer(
  ctx: ContainerContext,
  sandboxId: string,
  config: ContainerConfig,
): Promise<string> {
  const checked = checkCreate(ctx, sandboxId, config);
  const rec = newRecord(ctx, checked, config);
  const key = nameKey(rec);
  ctx.names.set(key, rec.id);
  try {
    ctx.records.put(rec.id, rec, sandboxId);
    await makeContainer(ctx, rec, checked, config);
    transition(rec, "created");
    ctx.save(rec);
    ctx.remember(rec);
  } catch (err) {
    ctx.names.delete(key);
    await destroyContainer(ctx, rec).catch((e) =>
      ctx.log.error("cleanup of failed create failed", { id: rec.id, err: errorMessage(e) })
    );
    throw err;
  }
  ctx.publish("CONTAINER_CREATED_EVENT", rec);
  if (rec.attempt > 0) ctx.metrics.restarted();
  ctx.log.info("container created", { id: rec.id, name: rec.name, sandbox: sandboxId });
  return rec.id;
}

function checkCreate(
  ctx: ContainerContext,
  sandboxId: string,
  config: ContainerConfig,
): CheckedCreate {
  const sandbox = ctx.deps.sandboxes.getSandbox(sandboxId);
  if (!sandbox) {
    throw new NotFoundError(
      `pod sandbox ${sandboxId} not found; create it with RunPodSandbox first`,
    );
  }
  if (sandbox.state !== "SANDBOX_READY") {
    throw new FailedPreconditionError(
      `pod sandbox ${sandboxId} is not ready (${sandbox.state}); containers can only be created in a ready sandbox`,
    );
  }
  const name = config.metadata?.name ?? "";
  if (!name) throw new InvalidArgumentError("container config has no metadata.name");
  validateContainerConfig(config, sandbox);
  const attempt = config.metadata?.attempt ?? 0;
  const imageRef = config.image?.image ?? "";
  if (!imageRef) throw new InvalidArgumentError("container config has no image");
  const image = ctx.deps.images.findImage(imageRef);
  if (!image) {
    throw new NotFoundError(`image "${imageRef}" is not present on this node; pull it first`);
  }
  const taken = ctx.names.get(nameKey({ sandboxId, name, attempt }));
  if (taken) {
    throw new AlreadyExistsError(
      `container "${name}" attempt ${attempt} already exists in pod ${sandboxId} as ${taken}; remove it first`,
    );
  }
  const handler = ociRuntimeFor(ctx.config, sandbox.runtimeHandler);
  return { sandbox, image, handler, name, attempt, imageRef };
}

function randomId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

function newRecord(
  ctx: ContainerContext,
  { sandbox, image, handler, name, attempt, imageRef }: CheckedCreate,
  config: ContainerConfig,
): ContainerRecord {
  const id = randomId();
  const layerDir = `${ctx.config.root_dir}/containers/${id}`;
  return {
    id,
    sandboxId: sandbox.id,
    name,
    attempt,
    ...initialState(),
    createdAt: Date.now(),
    startedAt: 0,
    finishedAt: 0,
    exitCode: 0,
    reason: "",
    message: "",
    image: {
      image: imageRef,
      annotations: config.image?.annotations ?? {},
      user_specified_image: config.image?.user_specified_image || imageRef,
      runtime_handler: config.image?.runtime_handler ?? "",
      image_ref: image.id,
    },
    imageRef: image.repoDigests[0] ?? image.id,
    imageId: image.id,
    layerDirs: image.layerDirs,
    labels: { ...(config.labels ?? {}) },
    annotations: { ...(config.annotations ?? {}) },
    mounts: config.mounts ?? [],
    logPath: config.log_path ? `${sandbox.logDirectory}/${config.log_path}` : "",
    resources: config.linux?.resources ?? null,
    user: { uid: 0, gid: 0, additionalGids: [] },
    stopSignal: parseSignal(config.stop_signal ?? "") ??
      parseSignal(image.config.StopSignal ?? "") ?? "SIGTERM",
    tty: !!config.tty,
    stdin: !!config.stdin,
    stdinOnce: !!config.stdin_once,
    runtimeHandler: handler.name,
    runtimeBinary: handler.runtime.binary,
    runtimeRoot: handler.runtime.root,
    runtimeOptions: handler.runtime.options,
    pid: 0,
    conmonPid: 0,
    bundleDir: `${ctx.config.state_dir}/containers/${id}`,
    upperDir: `${layerDir}/upper`,
    workDir: `${layerDir}/work`,
  };
}

/** The bundle: rootfs mounted, the user resolved in it, config.json written. */
async function makeContainer(
  ctx: ContainerContext,
  rec: ContainerRecord,
  { sandbox, image }: CheckedCreate,
  config: ContainerConfig,
): Promise<void> {
  await Deno.mkdir(rec.bundleDir, { recursive: true, mode: 0o700 });
  const rootfs = `${rec.bundleDir}/rootfs`;
  const idmap = rootfsIdmapFor(sandbox, rec.bundleDir);
  if (idmap) {
    // The pod's root (an unprivileged uid on the node) must traverse to its rootfs.
    await Deno.chmod(dirname(rec.bundleDir), 0o711);
    await Deno.chmod(rec.bundleDir, 0o711);
  }
  await mountRootfs(image.layerDirs, rec.upperDir, rec.workDir, rootfs, idmap);
  const sc = config.linux?.security_context;
  const user = resolveUser(rootfs, {
    uid: sc?.run_as_user ? Number(sc.run_as_user.value) : undefined,
    username: sc?.run_as_username || undefined,
    gid: sc?.run_as_group ? Number(sc.run_as_group.value) : undefined,
    supplementalGroups: (sc?.supplemental_groups ?? []).map(Number),
    strictGroups: sc?.supplemental_groups_policy === "Strict",
    imageUser: image.config.User ?? "",
  });
  rec.user = { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids };
  const mounts = await prepareMounts(ctx, rec);
  const spec = buildSpec({
    id: rec.id,
    config: { ...config, mounts },
    image: image.config,
    sandbox,
    rootfs,
    user,
    pidNamespace: pidNamespace(ctx, sandbox, config),
    cgroupDriver: ctx.config.cgroup_driver,
    cgroupV2: ctx.cgroupV2,
    oomScoreAdjFloor: oomScoreAdjFloor(ctx),
    host: SPEC_HOST,
    availableCapabilities: ownBoundingCapabilities(),
    hugetlbAvailable: ctx.hugetlb,
  });
  if (idmap) await idmapBindMounts(spec, rec.bundleDir, idmap.usernsPath, ctx.log);
  // 0600: the spec carries the container's environment, often secrets.
  await Deno.writeTextFile(`${rec.bundleDir}/config.json`, JSON.stringify(spec), { mode: 0o600 });
}

/**
 * Host sides of the CRI mounts: missing host dirs are created (as containerd does) and
 * image volumes are mounted read-only from the image's layers inside the bundle.
 */
async function prepareMounts(ctx: ContainerContext, rec: ContainerRecord): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const [i, m] of rec.mounts.entries()) {
    if (m.image?.image) out.push(await mountImageVolume(ctx, rec, m, i));
    else {
      await ensureHostPath(m);
      out.push(m);
    }
  }
  return out;
}

/** Mounts image volume `m` (the `index`th mount) and returns the bind mount that shows it. */
async function mountImageVolume(
  ctx: ContainerContext,
  rec: ContainerRecord,
  m: Mount,
  index: number,
): Promise<Mount> {
  const ref = m.image!.image;
  const img = ctx.deps.images.findImage(ref);
  if (!img) {
    throw new NotFoundError(
      `image volume ${m.container_path}: image "${ref}" is not present on this node; pull it first`,
    );
  }
  rec.volumeImageIds = [...new Set([...(rec.volumeImageIds ?? []), img.id])];
  const dir = `${rec.bundleDir}/image-volumes/${index}`;
  await mountReadOnlyLayers(img.layerDirs, dir, `${rec.bundleDir}/image-volumes/empty`);
  const source = m.image_sub_path ? resolveInRoot(dir, m.image_sub_path) : dir;
  try {
    Deno.statSync(source);
  } catch {
    throw new NotFoundError(
      `image volume ${m.container_path}: sub-path "${m.image_sub_path}" does not exist in image "${ref}"`,
    );
  }
  return { ...m, host_path: source, image: null, readonly: true };
}

/**
 * Missing host directories of bind mounts are created, as containerd does; a host path
 * that cannot be (a file in the way, say) is the request's fault.
 */
async function ensureHostPath(m: Mount): Promise<void> {
  if (!m.host_path?.startsWith("/")) {
    throw new InvalidArgumentError(`mount host_path "${m.host_path}" must be an absolute path`);
  }
  try {
    await Deno.stat(m.host_path);
    return;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw unusableHostPath(m, err);
  }
  await Deno.mkdir(m.host_path, { recursive: true, mode: 0o755 }).catch((err) => {
    throw unusableHostPath(m, err);
  });
}

function unusableHostPath(m: Mount, err: unknown): InvalidArgumentError {
  // Deno's message repeats the path after the reason; the reason alone is enough.
  const reason = errorMessage(err).replace(/:\s*\w+ '.*'$/, "");
  return new InvalidArgumentError(
    `mount host_path "${m.host_path}" (for ${m.container_path}) cannot be used: ${reason}`,
  );
}

/** The PID namespace the container joins: a path, "host", or null for its own. */
function pidNamespace(
  ctx: ContainerContext,
  sandbox: SandboxForContainer,
  config: ContainerConfig,
): string | null {
  const ns = config.linux?.security_context?.namespace_options;
  const mode = ns?.pid ?? "CONTAINER";
  if (mode === "NODE" || sandbox.hostPid) return "host";
  if (mode === "POD") {
    if (!sandbox.pidnsPath) {
      throw new FailedPreconditionError(
        `pod ${sandbox.id} has no shared PID namespace, but the container asks for PID mode POD`,
      );
    }
    return sandbox.pidnsPath;
  }
  if (mode === "TARGET") {
    const target = ctx.resolve(ns?.target_id ?? "");
    if (phaseOf(target) !== "running" || target.pid <= 0) {
      throw new FailedPreconditionError(
        `PID namespace target ${target.id} is not running; start it first`,
      );
    }
    return `/proc/${target.pid}/ns/pid`;
  }
  return null;
}

function oomScoreAdjFloor(ctx: ContainerContext): number | null {
  if (!ctx.config.runtime.restrict_oom_score_adj) return null;
  if (ctx.oomFloor !== undefined) return ctx.oomFloor;
  // Lowering oom_score_adj needs CAP_SYS_RESOURCE; without it, Skiff's own value is the
  // lowest a child may get.
  const own = Number(Deno.readTextFileSync("/proc/self/oom_score_adj").trim());
  ctx.oomFloor = hasCapability("CAP_SYS_RESOURCE") ? null : own;
  return ctx.oomFloor;
}
