/**
 * The container process: argv and environment from the CRI config over the image config
 * (as containerd merges them), working directory, terminal and rlimits.
 */
import { InvalidArgumentError } from "../../core/errors.ts";
import type { ContainerConfig } from "../model.ts";
import type { ImageRuntimeConfig } from "../contracts.ts";
import type { ResolvedUser } from "./user.ts";
import type { SpecOption } from "./types.ts";

const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The argv of the container process: CRI command/args over the image entrypoint/cmd. */
export function processArgs(config: ContainerConfig, image: ImageRuntimeConfig): string[] {
  let command = [...(config.command ?? [])];
  let args = [...(config.args ?? [])];
  if (command.length === 0) {
    if (args.length === 0) args = [...(image.Cmd ?? [])];
    const ep = image.Entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === "")) command = [...ep];
  }
  const argv = [...command, ...args];
  if (argv.length === 0) {
    throw new InvalidArgumentError(
      "no command specified: the container config has no command/args and the image has no Entrypoint/Cmd",
    );
  }
  return argv;
}

/** Image env overridden key by key by the CRI envs; PATH and HOME filled in when absent. */
export function processEnv(
  config: ContainerConfig,
  image: ImageRuntimeConfig,
  user: ResolvedUser,
  hostname: string,
): string[] {
  const env = new Map<string, string>();
  const put = (kv: string) => {
    const i = kv.indexOf("=");
    env.set(i < 0 ? kv : kv.slice(0, i), kv);
  };
  put(DEFAULT_PATH);
  if (hostname) put(`HOSTNAME=${hostname}`);
  for (const kv of image.Env ?? []) put(kv);
  // KeyValue.value is `bytes` in the schema (the wire form of a proto string): UTF-8 text.
  for (const e of config.envs ?? []) put(`${e.key}=${envValue(e.value)}`);
  if (!env.has("HOME")) put(`HOME=${user.home || "/"}`);
  return [...env.values()];
}

const utf8 = new TextDecoder();
function envValue(v: Uint8Array | string): string {
  return typeof v === "string" ? v : utf8.decode(v);
}

export const withProcess: SpecOption = (spec, ctx) => {
  const { config, image } = ctx;
  spec.process.terminal = !!config.tty;
  spec.process.args = processArgs(config, image);
  spec.process.env = processEnv(config, image, ctx.user, ctx.sandbox.hostname);
  // The CRI working_dir is checked to be absolute at create; an image's is made absolute
  // (runc refuses a relative cwd, and images built by hand may carry one).
  const imageDir = image.WorkingDir ?? "";
  spec.process.cwd = config.working_dir ||
    (imageDir && !imageDir.startsWith("/") ? `/${imageDir}` : imageDir) || "/";
  spec.process.rlimits = [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }];
};
