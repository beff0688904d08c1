/**
 * Results of the side-by-side bench and their tables: one row per measure, Skiff, containerd
 * and the Skiff/containerd ratio (below 1 means Skiff took less time or memory).
 */
import type { MachineDescription } from "./host.ts";
import type { Lifecycle, MemorySample } from "./workloads.ts";
import { type MixKind, READ_KINDS } from "../concurrency.ts";
import type { IdleResult } from "../idle.ts";
import { PER_CALL_KINDS, type PerCallResult } from "../percall.ts";

/** What each phase measured; a phase left out with `--phases` has no entry. */
export interface RuntimeResult {
  sequential: Lifecycle;
  perCall: PerCallResult;
  concurrent: Lifecycle;
  memoryIdle: MemorySample;
  memoryLoaded: MemorySample;
  list: { containers: number; times: number[] };
  /** PullImage times, and the latencies of reads issued every 10 ms meanwhile. */
  pulls: { times: number[]; readsDuring: number[] };
  mix: MixResult;
  idle: IdleResult;
  footprint: MemorySample & { cyclePods: number };
}

export interface MixResult {
  counts: { pods: number; exec: number; churn: number; reads: number };
  times: Partial<Record<MixKind, number[]>>;
  /** `--mix-probe`: the latencies of the separate grpc-go client's reads through each burst, ms. */
  probeTimes?: Partial<Record<MixKind, number[]>>;
  errors: string[];
  /** Each burst's length, ms (its slowest call). */
  bursts: number[];
  /** Each burst's slowest read, ms from the burst's start. */
  burstReadMax?: number[];
}

export interface BenchResult {
  quick: boolean;
  counts: Record<string, number>;
  machine: MachineDescription;
  multiLayerImage: { layers: number; bytes: number };
  runtimes: { skiff?: Partial<RuntimeResult>; containerd?: Partial<RuntimeResult> };
  phases?: string[];
  seconds?: number;
  loadAverageAtEnd?: string;
  /** What Skiff ran: "bundle" (as shipped, scripts/bundle.ts) or "source" (main.ts). */
  skiffForm?: "bundle" | "source";
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

interface Row {
  measure: string;
  unit: "ms" | "MiB" | "s" | "";
  value: (r: RuntimeResult) => number;
}

/** The rows of the mix, idle and footprint phases. */
function loadRows(res: BenchResult): Row[] {
  const c = res.counts;
  const out: Row[] = [];
  const mixCalls = c.mixExec + c.mixChurn + c.mixReads;
  const kinds: MixKind[] = [...READ_KINDS, "ExecSync", "RunPodSandbox+StopPodSandbox"];
  for (const kind of kinds) {
    for (const p of [50, 99]) {
      out.push({
        measure: `${mixCalls}-call mix: ${kind} p${p}`,
        unit: "ms",
        value: (r) => percentile(r.mix.times[kind] ?? [], p),
      });
    }
  }
  for (const kind of READ_KINDS) {
    for (const p of [50, 99]) {
      out.push({
        measure: `${mixCalls}-call mix, separate Go client: ${kind} p${p}`,
        unit: "ms",
        value: (r) => percentile(r.mix.probeTimes?.[kind] ?? [], p),
      });
    }
  }
  const idle = `idle, ${c.idlePods} pods polled ${c.idleSeconds} s`;
  out.push(
    { measure: `${idle}: daemon CPU`, unit: "s", value: (r) => r.idle.daemonCpuSeconds },
    {
      measure: `${idle}: daemon + monitors CPU`,
      unit: "s",
      value: (r) => r.idle.daemonCpuSeconds + r.idle.monitorsCpuSeconds,
    },
  );
  for (const m of ["ListContainers", "ListPodSandbox", "ListContainerStats"]) {
    out.push({
      measure: `${idle}: ${m} p50`,
      unit: "ms",
      value: (r) => percentile(r.idle.times[m] ?? [], 50),
    });
  }
  const after = `after ${c.footprintCycle} pods created+removed`;
  out.push(
    {
      measure: `${after}: runtime RSS`,
      unit: "MiB",
      value: (r) => r.footprint.runtimeRssKiB / 1024,
    },
    {
      measure: `${after}: runtime PSS`,
      unit: "MiB",
      value: (r) => r.footprint.runtimePssKiB / 1024,
    },
  );
  return out;
}

function rows(res: BenchResult): Row[] {
  const c = res.counts;
  const ms = (measure: string, value: (r: RuntimeResult) => number): Row => ({
    measure,
    unit: "ms",
    value,
  });
  const mib = (measure: string, value: (r: RuntimeResult) => number): Row => ({
    measure,
    unit: "MiB",
    value: (r) => value(r) / 1024,
  });
  const seq = (r: RuntimeResult) => r.sequential;
  const width = c.concurrentWidth;
  const listN = c.listPods * c.listPerPod;
  const pods = c.memoryPods;
  return [
    ms("RunPodSandbox p50", (r) => percentile(seq(r).start.map((t) => t.runPodSandbox), 50)),
    ms("CreateContainer p50", (r) => percentile(seq(r).start.map((t) => t.createContainer), 50)),
    ms("StartContainer p50", (r) => percentile(seq(r).start.map((t) => t.startContainer), 50)),
    ms("StopContainer p50", (r) => percentile(seq(r).stop.map((t) => t.stopContainer), 50)),
    ms("RemoveContainer p50", (r) => percentile(seq(r).stop.map((t) => t.removeContainer), 50)),
    ms(
      "StopPodSandbox+RemovePodSandbox p50",
      (r) => percentile(seq(r).stop.map((t) => t.stopRemovePod), 50),
    ),
    ms("pod teardown (all four calls) p50", (r) => percentile(seq(r).stop.map((t) => t.total), 50)),
    ms("pod start, sequential p50", (r) => percentile(seq(r).start.map((t) => t.total), 50)),
    ms("pod start, sequential p95", (r) => percentile(seq(r).start.map((t) => t.total), 95)),
    ...PER_CALL_KINDS.map((kind) =>
      ms(`one at a time: ${kind} p50`, (r) => percentile(r.perCall[kind] ?? [], 50))
    ),
    ms(
      `pod start, ${width} concurrent p50`,
      (r) => percentile(r.concurrent.start.map((t) => t.total), 50),
    ),
    ms(
      `pod start, ${width} concurrent p95`,
      (r) => percentile(r.concurrent.start.map((t) => t.total), 95),
    ),
    ms(
      `PullImage ${res.multiLayerImage.layers}-layer image p50`,
      (r) => percentile(r.pulls.times, 50),
    ),
    ms(
      `PullImage: ListPodSandbox meanwhile p99`,
      (r) => percentile(r.pulls.readsDuring, 99),
    ),
    ms(`ListContainers (${listN} containers) p50`, (r) => percentile(r.list.times, 50)),
    ms(`ListContainers (${listN} containers) p95`, (r) => percentile(r.list.times, 95)),
    mib("0 pods: runtime RSS", (r) => r.memoryIdle.runtimeRssKiB),
    mib("0 pods: runtime PSS", (r) => r.memoryIdle.runtimePssKiB),
    mib("0 pods: runtime + monitors PSS", (r) => r.memoryIdle.totalPssKiB),
    mib(`${pods} pods: runtime RSS`, (r) => r.memoryLoaded.runtimeRssKiB),
    mib(`${pods} pods: runtime PSS`, (r) => r.memoryLoaded.runtimePssKiB),
    mib(`${pods} pods: conmon / shim PSS, all`, (r) => r.memoryLoaded.monitorsPssKiB),
    {
      measure: `${pods} pods: conmon / shim processes`,
      unit: "",
      value: (r) => r.memoryLoaded.monitors,
    },
    mib(`${pods} pods: runtime + monitors PSS`, (r) => r.memoryLoaded.totalPssKiB),
    ...loadRows(res),
  ];
}

function fmt(v: number | undefined, unit: Row["unit"]): string {
  if (v === undefined || Number.isNaN(v)) return "–";
  if (unit === "") return String(v);
  if (unit === "s") return `${v.toFixed(2)} s`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${unit}`;
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !(b > 0)) return "–";
  return `${(a / b).toFixed(2)}x`;
}

/** A row's value, or undefined when its phase did not run on that side. */
function valueOf(row: Row, r: Partial<RuntimeResult> | undefined): number | undefined {
  if (!r) return undefined;
  try {
    const v = row.value(r as RuntimeResult);
    return Number.isNaN(v) ? undefined : v;
  } catch {
    return undefined; // the phase's result is absent
  }
}

function table(res: BenchResult): string[][] {
  const { skiff, containerd } = res.runtimes;
  const out: string[][] = [];
  for (const row of rows(res)) {
    const s = valueOf(row, skiff);
    const c = valueOf(row, containerd);
    if (s === undefined && c === undefined) continue;
    out.push([row.measure, fmt(s, row.unit), fmt(c, row.unit), ratio(s, c)]);
  }
  return out;
}

const HEADER = ["measure", "Skiff", "containerd", "Skiff/containerd"];

export function textTable(res: BenchResult): string {
  const body = table(res);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    `Skiff vs containerd${res.quick ? " (--quick counts)" : ""}: ratio < 1 = Skiff faster/smaller`,
    line(HEADER),
    line(widths.map((w) => "-".repeat(w))),
    ...body.map(line),
  ].join("\n");
}

function mixErrors(res: BenchResult): string {
  return Object.entries(res.runtimes)
    .map(([name, r]) => `${name} ${r?.mix?.errors.length ?? "–"}`)
    .join(", ");
}

/** Each burst's slowest read, per runtime: the p99 is one burst's, this shows which. */
function mixSlowestReads(res: BenchResult): string {
  const per: string[] = [];
  for (const [name, r] of Object.entries(res.runtimes)) {
    const slowest = r?.mix?.burstReadMax;
    if (slowest?.length) per.push(`${name} ${slowest.map((ms) => ms.toFixed(0)).join("/")} ms`);
  }
  return per.length ? `; slowest read of each burst: ${per.join(", ")}` : "";
}

const SKIFF_FORMS = {
  bundle: "as shipped (the minified bundle of scripts/bundle.ts)",
  source: "from its sources (main.ts, --skiff-source)",
};

export function markdownTable(res: BenchResult): string {
  const m = res.machine;
  const c = res.counts;
  const body = table(res);
  return [
    `| ${HEADER.join(" | ")} |`,
    `|---|---:|---:|---:|`,
    ...body.map((r) => `| ${r.join(" | ")} |`),
    "",
    `Ratio below 1: Skiff took less time or memory. ${c.sequential} sequential pods, ` +
    `${c.perCall} one-at-a-time lifecycles (each call timed), ` +
    `${c.concurrentRounds} x ${c.concurrentWidth} concurrent, ${c.pulls} fresh pull(s) of a ` +
    `${res.multiLayerImage.layers}-layer ${(res.multiLayerImage.bytes / 1048576).toFixed(1)} MiB ` +
    `image, ${c.listCalls} ListContainers calls, memory at 0 and ${c.memoryPods} running pods; ` +
    `${c.mixRounds} round(s) of the ${c.mixExec + c.mixChurn + c.mixReads}-call mix ` +
    `(${c.mixExec} ExecSync, ${c.mixChurn} RunPodSandbox+StopPodSandbox, ${c.mixReads} reads on ` +
    `${c.mixPods} pods; errors: ${mixErrors(res)}${mixSlowestReads(res)}), ${c.idlePods} ` +
    `idle pods polled for ` +
    `${c.idleSeconds} s, memory after ${c.footprintCycle} pods created and removed` +
    (res.seconds ? `; ${res.seconds} s in all.` : ".") +
    (res.skiffForm ? ` Skiff ran ${SKIFF_FORMS[res.skiffForm]}.` : ""),
    "",
    `Machine (${m.date}): ${m.cpuModel}, ${m.cpus} CPUs, ${m.memTotalMiB} MiB RAM, ` +
    `cgroup ${m.cgroup}; \`${m.uname}\`; ${m.deno}; ${m.containerd}; ` +
    `${m.runc.replace(/\n/g, " ")}; ${m.conmon}. Load average at start ${m.loadAverageAtStart}` +
    (res.loadAverageAtEnd ? `, at end ${res.loadAverageAtEnd}.` : "."),
    "",
  ].join("\n");
}
