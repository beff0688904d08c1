/** `skiff pods`: lists pod sandboxes, like `crictl pods`. */
import type { PodSandbox, PodSandboxFilter, PodSandboxState } from "../../cri/types.ts";
import { type Command, parseFlags, UsageError } from "../command.ts";
import {
  ago,
  jsonText,
  podStateLabel,
  podStateNamed,
  shortId,
  stateChoices,
  table,
} from "../format.ts";
import {
  LABEL_OPTION,
  labelSelector,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  runOperator,
} from "../operator.ts";

const USAGE = `Usage: skiff pods [--name NAME] [--namespace NS] [--state STATE] [--label K=V] [-q]

Lists pod sandboxes.
      --state S      ready or notready
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  ...LABEL_OPTION,
  quiet: { type: "boolean", short: "q" },
  name: { type: "string" },
  namespace: { type: "string" },
  state: { type: "string" },
} as const;

export function parsePodsArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

/** The ListPodSandbox filter for `--state` and `--label`. */
export function podFilter(
  flags: { state?: string; label?: string[] },
): Omit<PodSandboxFilter, "id"> {
  let state: PodSandboxState | undefined;
  if (flags.state) {
    state = podStateNamed(flags.state);
    if (!state) throw new UsageError(`--state ${flags.state}: use ${stateChoices("pod")}`);
  }
  return { state: state ? { state } : null, label_selector: labelSelector(flags.label) };
}

export const podsCommand: Command = {
  name: "pods",
  usage: USAGE,
  async run(argv, io) {
    const { values } = parsePodsArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      let list = (await ctx.client.call("ListPodSandbox", { filter: podFilter(values) })).items;
      const { name, namespace } = values;
      if (name) list = list.filter((p) => (p.metadata?.name ?? "").includes(name));
      if (namespace) list = list.filter((p) => p.metadata?.namespace === namespace);
      list.sort((a, b) => Number(BigInt(b.created_at) - BigInt(a.created_at)));
      if (ctx.json) await ctx.io.out(jsonText({ items: list }));
      else if (values.quiet) await ctx.io.out(list.map((p) => p.id + "\n").join(""));
      else await ctx.io.out(podTable(list));
      return 0;
    });
  },
};

export function podTable(list: PodSandbox[]): string {
  return table(
    ["POD ID", "CREATED", "STATE", "NAME", "NAMESPACE", "ATTEMPT", "RUNTIME"],
    list.map((p) => [
      shortId(p.id),
      ago(p.created_at),
      podStateLabel(p.state),
      p.metadata?.name ?? "",
      p.metadata?.namespace ?? "",
      String(p.metadata?.attempt ?? 0),
      p.runtime_handler || "(default)",
    ]),
  );
}
