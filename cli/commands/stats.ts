/** `skiff stats`: CPU, memory and writable-layer usage of containers. */
import type { ContainerStats } from "../../cri/types.ts";
import { type Command, parseFlags } from "../command.ts";
import { humanSize, jsonText, RUNNING_CONTAINER, shortId, table } from "../format.ts";
import {
  type CriContext,
  LABEL_OPTION,
  labelSelector,
  OPERATOR_HELP,
  OPERATOR_OPTIONS,
  runOperator,
} from "../operator.ts";

const USAGE = `Usage: skiff stats [-a] [--pod ID] [CONTAINER...]

Shows CPU, memory and writable-layer usage of containers.
${OPERATOR_HELP}`;

const OPTIONS = {
  ...OPERATOR_OPTIONS,
  ...LABEL_OPTION,
  all: { type: "boolean", short: "a" },
  pod: { type: "string" },
} as const;

export function parseStatsArgs(argv: string[]) {
  return parseFlags(argv, OPTIONS);
}

type StatsFlags = { all?: boolean; pod?: string; label?: string[] };

export const statsCommand: Command = {
  name: "stats",
  usage: USAGE,
  async run(argv, io) {
    const { values, positionals } = parseStatsArgs(argv);
    return await runOperator(io, USAGE, values, async (ctx) => {
      const list = await containerStats(ctx, positionals, values);
      if (ctx.json) await ctx.io.out(jsonText({ stats: list }));
      else await ctx.io.out(statsTable(list));
      return 0;
    });
  },
};

/** The named containers' stats, or (like crictl) every running one's, or all with -a. */
async function containerStats(
  ctx: CriContext,
  ids: string[],
  flags: StatsFlags,
): Promise<ContainerStats[]> {
  if (ids.length) {
    const list: ContainerStats[] = [];
    for (const id of ids) {
      const s = (await ctx.client.call("ContainerStats", { container_id: id })).stats;
      if (s) list.push(s);
    }
    return list;
  }
  const list = (await ctx.client.call("ListContainerStats", {
    filter: { pod_sandbox_id: flags.pod ?? "", label_selector: labelSelector(flags.label) },
  })).stats;
  if (flags.all) return list;
  try {
    const running = new Set(
      (await ctx.client.call("ListContainers", {
        filter: { state: { state: RUNNING_CONTAINER } },
      })).containers.map((c) => c.id),
    );
    return list.filter((s) => running.has(s.attributes?.id ?? ""));
  } catch {
    // without ListContainers, show every container's stats
    return list;
  }
}

export function statsTable(list: ContainerStats[]): string {
  const num = (x: { value: string } | null | undefined) => (x ? Number(x.value) : null);
  return table(
    ["CONTAINER", "NAME", "CPU %", "MEM", "DISK", "INODES"],
    list.map((s) => {
      const cores = num(s.cpu?.usage_nano_cores);
      const mem = num(s.memory?.working_set_bytes);
      const disk = num(s.writable_layer?.used_bytes);
      const inodes = num(s.writable_layer?.inodes_used);
      return [
        shortId(s.attributes?.id ?? ""),
        s.attributes?.metadata?.name ?? "",
        cores === null ? "-" : (cores / 1e7).toFixed(2),
        mem === null ? "-" : humanSize(mem),
        disk === null ? "-" : humanSize(disk),
        inodes === null ? "-" : String(inodes),
      ];
    }),
  );
}
