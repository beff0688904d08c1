/**
 * Names a client gives (pods, namespaces, UIDs, containers) end up in paths, argv and
 * CNI_ARGS (`K8S_POD_NAME=…;…`): one rule for all of them, checked up front by the sandbox
 * and container validators, and one way to show a client's value in a message.
 */
import { InvalidArgumentError } from "../core/errors.ts";

/** Longest name (Kubernetes' DNS-1123 subdomain limit). */
export const MAX_NAME_LENGTH = 253;

/** Letters, digits, `.`, `_` and `-`; starting and ending with a letter or digit. */
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** A client's value for a message: bounded, quoted, control characters escaped. */
export function quoted(value: string, max = 80): string {
  const shown = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(shown) + (value.length > max ? ` (${value.length} characters)` : "");
}

/**
 * Admits everything kubelet sends (DNS-1123 names, UUIDs or hex hashes as UIDs) and what
 * crictl and critest use (upper case, `_`), and nothing that could act as a separator in a
 * path, an argument list or `key=value;…` pairs.
 */
export function validateName(what: string, value: string, max = MAX_NAME_LENGTH): void {
  if (value.length > max) {
    throw new InvalidArgumentError(`${what} ${quoted(value)} is longer than ${max} characters`);
  }
  if (!NAME.test(value)) {
    throw new InvalidArgumentError(
      `${what} ${quoted(value)} is not a valid name: use letters, digits, '.', '_' and '-', ` +
        `starting and ending with a letter or digit (Kubernetes names are DNS-1123)`,
    );
  }
}
