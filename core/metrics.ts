/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in
 * the text exposition format. One registry per Skiff process, shared by cri/ and admin/.
 */

type Labels = Record<string, string>;

/** One key per label set, whatever order its labels were given in (runs on every call). */
function labelKey(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length > 1) keys.sort();
  let key = "";
  for (const k of keys) key += key ? `,${k}=${labels[k]}` : `${k}=${labels[k]}`;
  return key;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function renderLabels(labels: Labels, extra?: [string, string]): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

function fmt(n: number): string {
  if (n === Infinity) return "+Inf";
  return Number.isInteger(n) ? String(n) : n.toPrecision(12).replace(/\.?0+$/, "");
}

interface Metric {
  render(out: string[]): void;
}

export class Counter implements Metric {
  private values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelKey(labels);
    const e = this.values.get(k);
    if (e) e.value += by;
    else this.values.set(k, { labels, value: by });
  }
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`);
    for (const { labels, value } of this.values.values()) {
      out.push(`${this.name}${renderLabels(labels)} ${fmt(value)}`);
    }
  }
}

export class Gauge implements Metric {
  private values = new Map<string, { labels: Labels; value: number }>();
  private collectors: (() => void)[] = [];
  constructor(readonly name: string, readonly help: string) {}
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), { labels, value });
  }
  /** Called before each render, to sample values that are cheap to read on demand. */
  onCollect(fn: () => void): void {
    this.collectors.push(fn);
  }
  reset(): void {
    this.values.clear();
  }
  render(out: string[]): void {
    for (const c of this.collectors) c();
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`);
    for (const { labels, value } of this.values.values()) {
      out.push(`${this.name}${renderLabels(labels)} ${fmt(value)}`);
    }
  }
}

export const DEFAULT_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

export class Histogram implements Metric {
  private series = new Map<string, { labels: Labels; counts: number[]; sum: number; n: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[] = DEFAULT_BUCKETS,
  ) {}
  observe(labels: Labels, value: number): void {
    const k = labelKey(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, n: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.n++;
  }
  count(labels: Labels): number {
    return this.series.get(labelKey(labels))?.n ?? 0;
  }
  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${renderLabels(s.labels, ["le", fmt(b)])} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket${renderLabels(s.labels, ["le", "+Inf"])} ${s.n}`);
      out.push(`${this.name}_sum${renderLabels(s.labels)} ${fmt(s.sum)}`);
      out.push(`${this.name}_count${renderLabels(s.labels)} ${s.n}`);
    }
  }
}

/**
 * One owner per metric name: registering a name twice throws, because silently sharing a
 * series once let two modules count the same pulled bytes twice.
 */
export class MetricsRegistry {
  private metrics = new Map<string, Metric>();
  private register<M extends Metric>(name: string, make: () => M): M {
    if (this.metrics.has(name)) {
      throw new Error(`metric ${name} is already registered; each metric has one owner`);
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }
  counter(name: string, help: string): Counter {
    return this.register(name, () => new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.register(name, () => new Gauge(name, help));
  }
  histogram(name: string, help: string, buckets?: number[]): Histogram {
    return this.register(name, () => new Histogram(name, help, buckets));
  }
  render(): string {
    const out: string[] = [];
    for (const m of this.metrics.values()) m.render(out);
    return out.join("\n") + "\n";
  }
}
