/** Annotations of the spec: the CRI ones, then those by which tools know a CRI container. */
import type { SpecOption } from "./types.ts";

export const withAnnotations: SpecOption = (spec, { config, sandbox }) => {
  spec.annotations = {
    ...(config.annotations ?? {}),
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.sandbox-id": sandbox.id,
    "io.kubernetes.cri.container-name": config.metadata?.name ?? "",
  };
};
