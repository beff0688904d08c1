/**
 * What the List and Stream RPCs share: CRI filters as the services' list filters (or, for
 * stats, as predicates over the stats targets), and paging for the Stream* RPCs.
 */
import type {
  ContainerFilter,
  ContainerStatsFilter,
  ImageFilter,
  PodSandboxFilter,
  PodSandboxStatsFilter,
} from "../types.ts";
import type { ContainerListFilter } from "../../runtime/container/mod.ts";
import type { SandboxFilter } from "../../runtime/sandbox/mod.ts";
import { type Given, stringMap } from "./values.ts";

/** CRI's empty string or unset state means "any": undefined in the services' filters. */
const unlessEmpty = <T extends string>(v: T | null | undefined): T | undefined => v || undefined;

export function containerListFilter(f: Given<ContainerFilter>): ContainerListFilter {
  return {
    id: unlessEmpty(f?.id),
    state: unlessEmpty(f?.state?.state),
    sandboxId: unlessEmpty(f?.pod_sandbox_id),
    labels: stringMap(f?.label_selector),
  };
}

export function podSandboxListFilter(f: Given<PodSandboxFilter>): SandboxFilter {
  return {
    id: unlessEmpty(f?.id),
    state: unlessEmpty(f?.state?.state),
    labelSelector: stringMap(f?.label_selector),
  };
}

/** The image a ListImages/StreamImages filter names, if any (a reference or ID). */
export function imageListFilter(f: Given<ImageFilter>): string | undefined {
  return unlessEmpty(f?.image?.image);
}

/** Whether every key=value of the selector is among the labels. */
export function labelsMatch(
  selector: Record<string, string | null | undefined> | null | undefined,
  labels: Record<string, string>,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

interface Labelled {
  id: string;
  labels: Record<string, string>;
}

export function containerStatsFilter(
  f: Given<ContainerStatsFilter>,
): (c: Labelled & { sandboxId: string }) => boolean {
  return (c) =>
    (!f?.id || c.id === f.id) &&
    (!f?.pod_sandbox_id || c.sandboxId === f.pod_sandbox_id) &&
    labelsMatch(f?.label_selector, c.labels);
}

export function podSandboxStatsFilter(f: Given<PodSandboxStatsFilter>): (s: Labelled) => boolean {
  return (s) => (!f?.id || s.id === f.id) && labelsMatch(f?.label_selector, s.labels);
}

/**
 * A Stream* RPC's messages: the items in pages of `size`, and one empty page for no items
 * (so a client always gets a message before the stream ends).
 */
export function pages<T>(items: T[], size: number): T[][] {
  if (items.length === 0) return [[]];
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
