/** `skiff inspect`: the verbose CRI status of containers, pods or images, as JSON. */
import { type Command, parseFlags, UsageError } from "../command.ts";
import { jsonText } from "../format.ts";
import { type CriContext, OPERATOR_HELP, OPERATOR_OPTIONS, runOperator } from "../operator.ts";
import { OBJECT_KINDS, type ObjectKind, resolveKind } from "../resolve.ts";

const USAGE = `Usage: skiff inspect [--type container|pod|image] ID|NAME...

Prints the verbose status of containers, pods or images (whichever the ID names).
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  type: { type: "string" },
} as const;

export function parseInspectArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

/** --type: container, pod or image; undefined (any) when absent. */
export function objectKind(type: string | undefined): ObjectKind | undefined {
  if (!type) return undefined;
  const kind = OBJECT_KINDS.find((k) => k === type);
  if (!kind) throw new UsageError("--type: use container, pod or image");
  return kind;
}

export const inspectCommand: Command = {
  name: "inspect",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseInspectArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      if (positionals.length === 0) throw new UsageError("expected at least one ID");
      return await inspect(ctx, positionals, objectKind(values.type));
    });
  },
};

async function inspect(ctx: CriContext, ids: string[], only?: ObjectKind): Promise<number> {
  const docs: unknown[] = [];
  let failed = 0;
  for (const id of ids) {
    const kind = await resolveKind(ctx, id, only);
    if (kind === "container") {
      docs.push(await ctx.client.call("ContainerStatus", { container_id: id, verbose: true }));
    } else if (kind === "pod") {
      docs.push(await ctx.client.call("PodSandboxStatus", { pod_sandbox_id: id, verbose: true }));
    } else if (kind === "image") {
      docs.push(await ctx.client.call("ImageStatus", { image: { image: id }, verbose: true }));
    } else {
      failed++;
      await ctx.io.err(`skiff inspect: no container, pod or image ${JSON.stringify(id)}\n`);
    }
  }
  const expanded = docs.map(expandInfo);
  if (expanded.length) await ctx.io.out(jsonText(expanded.length === 1 ? expanded[0] : expanded));
  return failed ? 1 : 0;
}

/** Verbose `info` values are JSON documents in strings; show them as JSON. */
export function expandInfo(status: unknown): unknown {
  if (!status || typeof status !== "object" || !("info" in status)) return status;
  const info = (status as { info: Record<string, string> }).info;
  const parsed: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(info)) {
    try {
      parsed[k] = JSON.parse(s);
    } catch {
      parsed[k] = s;
    }
  }
  return { ...status, info: parsed };
}
