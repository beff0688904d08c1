/** `skiff rm`: removes containers, pod sandboxes or images, whichever each ID names. */
import { errorMessage } from "../../core/errors.ts";
import { CriCallError } from "../../cri/client.ts";
import { type Command, parseFlags, UsageError } from "../command.ts";
import { jsonText } from "../format.ts";
import { type CriContext, OPERATOR_HELP, OPERATOR_OPTIONS, runOperator } from "../operator.ts";
import { type ObjectKind, resolveKind } from "../resolve.ts";

const USAGE = `Usage: skiff rm [-f] ID...

Removes containers, pod sandboxes or images (whichever each ID names).
  -f, --force        stop running containers and pods first
${OPERATOR_HELP}`;

// -f is --force here, as in crictl (for logs it is --follow).
const OPTIONS = {
  ...OPERATOR_OPTIONS,
  force: { type: "boolean", short: "f" },
} as const;

export function parseRmArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

export const rmCommand: Command = {
  name: "rm",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseRmArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      if (positionals.length === 0) throw new UsageError("expected at least one ID");
      return await rm(ctx, positionals, values.force === true);
    });
  },
};

/** Removes each ID in turn; one failing does not stop the others (exit code 1 then). */
async function rm(ctx: CriContext, ids: string[], force: boolean): Promise<number> {
  let failed = 0;
  const removed: { id: string; kind: ObjectKind }[] = [];
  for (const id of ids) {
    try {
      const kind = await removeOne(ctx, id, force);
      removed.push({ id, kind });
      if (!ctx.json) await ctx.io.out(`Removed ${kind} ${id}\n`);
    } catch (err) {
      failed++;
      const msg = err instanceof CriCallError
        ? `${err.codeName}: ${err.details}`
        : errorMessage(err);
      await ctx.io.err(`skiff rm: ${id}: ${msg}\n`);
    }
  }
  if (ctx.json) await ctx.io.out(jsonText({ removed }));
  return failed ? 1 : 0;
}

async function removeOne(ctx: CriContext, id: string, force: boolean): Promise<ObjectKind> {
  const kind = await resolveKind(ctx, id);
  if (kind === "container") {
    if (force) await ctx.client.call("StopContainer", { container_id: id, timeout: "0" });
    await ctx.client.call("RemoveContainer", { container_id: id });
  } else if (kind === "pod") {
    if (force) await ctx.client.call("StopPodSandbox", { pod_sandbox_id: id });
    await ctx.client.call("RemovePodSandbox", { pod_sandbox_id: id });
  } else if (kind === "image") {
    await ctx.client.call("RemoveImage", { image: { image: id } });
  } else {
    throw new Error(`no container, pod or image ${JSON.stringify(id)}`);
  }
  return kind;
}
