/** What each step of a pull works with: the stores, the registry client and bookkeeping. */
import type { Config } from "../../core/config/mod.ts";
import type { Logger } from "../../core/log.ts";
import type { ContentStore } from "../content.ts";
import type { SharedFlights } from "../flights.ts";
import type { LayerStore } from "../layers.ts";
import type { ProgressTracker } from "../progress.ts";
import type { Endpoint, RegistryClient } from "../registry/client.ts";

export interface PullContext {
  client: RegistryClient;
  content: ContentStore;
  layers: LayerStore;
  /** Shared work: one unpack per layer (`layer:<chainId>`), one pull per reference. */
  flights: SharedFlights;
  progress: ProgressTracker;
  config: () => Config;
  log: Logger;
  /** Marks blobs and layers an in-flight pull needs (GC leaves them); returns the release. */
  hold(keys: string[]): () => void;
  /** A blob download starts (counted per digest: one download per blob). */
  downloadStarted(digest: string): void;
  /** Blob bytes arrived from a registry, counted once as they arrive (metrics). */
  bytesFetched(n: number): void;
}

/** Where one pull fetches its blobs from. */
export interface BlobSource {
  /** The endpoint that served the manifest first, then the others. */
  endpoints: Endpoint[];
  /** Repository path within the registry. */
  repo: string;
  signal: AbortSignal;
}
