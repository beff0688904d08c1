/** The node's platform (os/arch/variant) and picking the matching manifest from an index. */
import { InvalidArgumentError, NotFoundError } from "../core/errors.ts";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const GO_ARCH: Record<string, string> = {
  x86_64: "amd64",
  aarch64: "arm64",
  arm: "arm",
  riscv64: "riscv64",
  s390x: "s390x",
  powerpc64le: "ppc64le",
};

/** This node's platform, as Go (and so every registry) names it. */
export function nodePlatform(): Platform {
  const architecture = GO_ARCH[Deno.build.arch] ?? Deno.build.arch;
  return {
    os: Deno.build.os,
    architecture,
    ...(architecture === "arm64" ? { variant: "v8" } : {}),
  };
}

/** Parses `os/arch[/variant]`; empty means this node's platform. */
export function parsePlatform(s: string): Platform {
  if (s === "") return nodePlatform();
  const parts = s.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === "")) {
    throw new InvalidArgumentError(
      `image platform ${JSON.stringify(s)} must be os/arch or os/arch/variant, e.g. linux/amd64`,
    );
  }
  return { os: parts[0], architecture: parts[1], ...(parts[2] ? { variant: parts[2] } : {}) };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

function normalVariant(p: Platform): string {
  // arm64 images rarely say "v8": an absent variant means v8 there.
  if (p.architecture === "arm64" && (p.variant ?? "") === "") return "v8";
  return p.variant ?? "";
}

export function platformMatches(want: Platform, have: Platform): boolean {
  if (want.os !== have.os || want.architecture !== have.architecture) return false;
  const w = normalVariant(want);
  const h = normalVariant(have);
  return w === "" || h === "" || w === h;
}

/** Picks the first entry matching `want`, or throws listing what the index offers. */
export function selectPlatform<T extends { platform?: Platform }>(
  entries: T[],
  want: Platform,
  what: string,
): T {
  const exact = entries.find((e) =>
    e.platform && platformMatches(want, e.platform) &&
    normalVariant(want) === normalVariant(e.platform)
  );
  const match = exact ?? entries.find((e) => e.platform && platformMatches(want, e.platform));
  if (match) return match;
  const available = entries.map((e) => e.platform ? formatPlatform(e.platform) : "unknown");
  throw new NotFoundError(
    `${what} has no image for platform ${formatPlatform(want)}; available: ${
      available.join(", ") || "none"
    }`,
  );
}
