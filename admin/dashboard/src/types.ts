/**
 * What /api/v1 answers, as the page sees it: the server's own view types (type-only
 * imports, erased from the bundle), so the page and the API cannot drift apart unseen.
 */
import type { ContainerStats } from "../../../cri/types.ts";
import type { HostSample } from "../../host.ts";
import type { CriLogEntry } from "../../logs.ts";
import type { NodeSummary } from "../../routes/node.ts";
import type { PullProgressEvent } from "../../routes/pulls.ts";
import type { containerView, imageView, podView } from "../../routes/views.ts";
import type { Problem } from "../../problem.ts";

export type { ContainerStats, HostSample, NodeSummary, Problem, PullProgressEvent };
export type PodView = ReturnType<typeof podView>;
export type ContainerView = ReturnType<typeof containerView>;
export type ImageView = ReturnType<typeof imageView>;

/** Which CRI handlers this Skiff has built (GET /node `capabilities`). */
export type Capabilities = NodeSummary["capabilities"];

export interface PodList {
  items: PodView[];
}
export interface ContainerList {
  containers: ContainerView[];
}
export interface ImageList {
  images: ImageView[];
  total_bytes: number;
}
export interface NodeStats {
  host: HostSample;
  containers: ContainerStats[] | null;
}
export interface ExecSyncResult {
  exit_code: number;
  stdout: string;
  stderr: string;
}

/** One line of GET /containers/:id/logs?format=json, or the error that ended the stream. */
export type LogLine = (CriLogEntry & { error?: undefined }) | { error: Problem };

/** Server-Sent Events of POST /images/pull. */
export interface PullStatusEvent {
  image: string;
  phase: string;
  elapsed_ms: number;
}
export interface PullDoneEvent {
  image: string;
  image_ref: string;
  elapsed_ms: number;
  size_bytes: number | null;
}
