/** What an ID or name given to `inspect` or `rm` refers to. */
import { CriCallError } from "../cri/client.ts";
import type { CriContext } from "./operator.ts";

export type ObjectKind = "container" | "pod" | "image";

export const OBJECT_KINDS: readonly ObjectKind[] = ["container", "pod", "image"];

/** Whether the CRI knows the object; false for NOT_FOUND (or a service without the RPC). */
async function exists(lookup: () => Promise<boolean>): Promise<boolean> {
  try {
    return await lookup();
  } catch (err) {
    if (err instanceof CriCallError && ["NOT_FOUND", "UNIMPLEMENTED"].includes(err.codeName)) {
      return false;
    }
    throw err;
  }
}

/**
 * What an ID names: a container, a pod sandbox or an image, tried in that order (as
 * crictl does), or only `only` when given. Null when it names none of them.
 */
export async function resolveKind(
  ctx: CriContext,
  id: string,
  only?: ObjectKind,
): Promise<ObjectKind | null> {
  const lookups: Record<ObjectKind, () => Promise<boolean>> = {
    container: async () =>
      !!(await ctx.client.call("ContainerStatus", { container_id: id })).status,
    pod: async () => !!(await ctx.client.call("PodSandboxStatus", { pod_sandbox_id: id })).status,
    image: async () => !!(await ctx.client.call("ImageStatus", { image: { image: id } })).image,
  };
  for (const kind of OBJECT_KINDS) {
    if ((!only || only === kind) && await exists(lookups[kind])) return kind;
  }
  return null;
}
