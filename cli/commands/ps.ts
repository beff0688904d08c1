/** `skiff ps`: lists containers, like `crictl ps`. */
import type { Container, ContainerFilter, ContainerState } from "../../cri/types.ts";
import { type Command, parseFlags, UsageError } from "../command.ts";
import {
  ago,
  containerStateLabel,
  containerStateNamed,
  jsonText,
  RUNNING_CONTAINER,
  shortId,
  stateChoices,
  table,
} from "../format.ts";
import {
  type CriContext,
  LABEL_OPTION,
  labelSelector,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  runOperator,
} from "../operator.ts";

const USAGE = `Usage: skiff ps [-a] [--pod ID] [--name NAME] [--state STATE] [--label K=V] [-q]

Lists containers (running only, unless -a or --state).
  -a, --all          all states
      --pod ID       only this pod sandbox's containers
      --name NAME    names containing NAME
      --state S      created, running, exited or unknown
      --label K=V    label selector (repeatable)
  -q, --quiet        only IDs
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  ...LABEL_OPTION,
  all: { type: "boolean", short: "a" },
  quiet: { type: "boolean", short: "q" },
  pod: { type: "string" },
  name: { type: "string" },
  state: { type: "string" },
} as const;

export function parsePsArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

/** The ListContainers filter for `--all`, `--state`, `--pod` and `--label`. */
export function containerFilter(
  flags: { all?: boolean; state?: string; pod?: string; label?: string[] },
): Omit<ContainerFilter, "id"> {
  let state: ContainerState | undefined = flags.all ? undefined : RUNNING_CONTAINER;
  if (flags.state) {
    state = containerStateNamed(flags.state);
    if (!state) throw new UsageError(`--state ${flags.state}: use ${stateChoices("container")}`);
  }
  return {
    pod_sandbox_id: flags.pod ?? "",
    state: state ? { state } : null,
    label_selector: labelSelector(flags.label),
  };
}

export const psCommand: Command = {
  name: "ps",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parsePsArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      let list = (await ctx.client.call("ListContainers", { filter: containerFilter(values) }))
        .containers;
      const name = values.name;
      if (name) list = list.filter((c) => (c.metadata?.name ?? "").includes(name));
      list.sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
      if (ctx.json) await ctx.io.out(jsonText({ containers: list }));
      else if (values.quiet) await ctx.io.out(list.map((c) => c.id + "\n").join(""));
      else await ctx.io.out(containerTable(list, await podNames(ctx)));
      return 0;
    });
  },
};

/** Pod names by ID for the POD column; empty when the pods cannot be listed. */
async function podNames(ctx: CriContext): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  try {
    for (const p of (await ctx.client.call("ListPodSandbox", {})).items) {
      names.set(p.id, p.metadata?.name ?? "");
    }
  } catch {
    // pods unavailable: the POD column stays empty
  }
  return names;
}

export function containerTable(list: Container[], podNames: Map<string, string>): string {
  return table(
    ["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"],
    list.map((c) => [
      shortId(c.id),
      c.image?.image ?? c.image_ref,
      ago(c.created_at),
      containerStateLabel(c.state),
      c.metadata?.name ?? "",
      String(c.metadata?.attempt ?? 0),
      shortId(c.pod_sandbox_id),
      podNames.get(c.pod_sandbox_id) ?? "",
    ]),
  );
}
