/** The node's pod CIDR as kubelet reports it (UpdateRuntimeConfig), kept for CNI. */
import { InvalidArgumentError } from "../core/errors.ts";

const CIDR = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]+)\/\d{1,3}$/;

export class PodCidr {
  private cidrs: string[] = [];
  /** Accepts one CIDR or a comma-separated dual-stack pair; empty leaves it unchanged. */
  set(value: string): boolean {
    if (value === "") return false;
    const parts = value.split(",").map((s) => s.trim());
    for (const p of parts) {
      if (!CIDR.test(p)) {
        throw new InvalidArgumentError(
          `pod_cidr ${JSON.stringify(p)} is not a CIDR (expected e.g. 10.244.1.0/24)`,
        );
      }
    }
    const changed = parts.join(",") !== this.cidrs.join(",");
    this.cidrs = parts;
    return changed;
  }
  get(): string[] {
    return [...this.cidrs];
  }
}
