/**
 * Image references, normalised as Docker does: `busybox` → `docker.io/library/busybox:latest`,
 * `host:port/name:tag`, `name@sha256:…`, `name:tag@sha256:…`, `localhost/x`.
 * Anything malformed is an InvalidArgumentError naming what is wrong.
 */
import { InvalidArgumentError } from "../core/errors.ts";

export const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";

export interface ImageReference {
  /** Registry host[:port], e.g. `docker.io`, `127.0.0.1:5000`. */
  domain: string;
  /** Repository path inside the registry, e.g. `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const DIGEST = /^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$/;
/** A bare image ID (config digest hex). */
export const IMAGE_ID_HEX = /^[a-f0-9]{64}$/;

export function isDigest(s: string): boolean {
  return DIGEST.test(s);
}

function validDomain(domain: string): boolean {
  let host = domain;
  const bracket = domain.match(/^\[([0-9a-fA-F:]+)\](?::(\d+))?$/);
  if (bracket) return true;
  const colon = domain.lastIndexOf(":");
  if (colon >= 0) {
    const port = domain.slice(colon + 1);
    if (!/^\d{1,5}$/.test(port)) return false;
    host = domain.slice(0, colon);
  }
  return host.split(".").every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parses and normalises a reference; throws InvalidArgumentError when malformed. */
export function parseReference(input: string): ImageReference {
  const bad = (why: string) =>
    new InvalidArgumentError(`invalid image reference ${JSON.stringify(input)}: ${why}`);
  if (input === "") throw bad("it is empty");
  if (input.trim() !== input || /\s/.test(input)) throw bad("it contains whitespace");
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw bad(`digest ${JSON.stringify(digest)} must be sha256:<64 hex> or sha512:<128 hex>`);
    }
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw bad(
        `tag ${JSON.stringify(tag)} must be 1-128 of [A-Za-z0-9_.-], not starting with . or -`,
      );
    }
  }
  if (rest === "") throw bad("the repository name is empty");
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (
      first.includes(".") || first.includes(":") || first === "localhost" || /[A-Z]/.test(first)
    ) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!validDomain(domain)) throw bad(`registry host ${JSON.stringify(domain)} is malformed`);
    }
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (path === "") throw bad("the repository path is empty");
  if (/[A-Z]/.test(path)) throw bad("repository names must be lowercase");
  for (const c of path.split("/")) {
    if (!PATH_COMPONENT.test(c)) {
      throw bad(
        `path component ${JSON.stringify(c)} must be lowercase letters and digits, ` +
          `separated by single '.', '_', '__' or dashes`,
      );
    }
  }
  if (domain === DEFAULT_DOMAIN && !path.includes("/")) path = OFFICIAL_REPO_PREFIX + path;
  if (`${domain}/${path}`.length > 255) throw bad("the name is longer than 255 characters");
  if (!tag && !digest) tag = "latest";
  return { domain, path, tag, digest };
}

/** `domain/path` */
export function repository(ref: ImageReference): string {
  return `${ref.domain}/${ref.path}`;
}

/** Canonical string: `domain/path[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return repository(ref) + (ref.tag ? `:${ref.tag}` : "") + (ref.digest ? `@${ref.digest}` : "");
}

/** `domain/path:tag`, or undefined when the reference has no tag. */
export function taggedName(ref: ImageReference): string | undefined {
  return ref.tag ? `${repository(ref)}:${ref.tag}` : undefined;
}

/** `domain/path@digest` */
export function digestedName(ref: ImageReference, digest: string): string {
  return `${repository(ref)}@${digest}`;
}

/** Normalises a reference or returns undefined when it does not parse. */
export function tryParseReference(input: string): ImageReference | undefined {
  try {
    return parseReference(input);
  } catch {
    return undefined;
  }
}
