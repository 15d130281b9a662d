// The per-request metrics (requests by verb/resource/code, latency by
// verb/resource) as prom-client metrics whose recording costs a map lookup and
// a few additions. prom-client's own Counter and Histogram validate and hash
// the labels on every call, even through a child from `labels()`, and keep
// bucket counts under number-to-string keys: about 1–2 µs per request, a few
// percent of a GET. These expose the same text (`Registry.metrics()`) as a
// prom-client Counter and Histogram with the same observations; the test
// holds them to it.

import type { Metric, Registry } from "prom-client";

/** A value line as prom-client's registry formats it: `labels` first, then `sharedLabels`. */
interface ValuePair {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName?: string;
  /** Always none; present where prom-client's histogram has the field. */
  exemplar?: null;
}

interface Exposed {
  name: string;
  help: string;
  type: "counter" | "histogram";
  values: ValuePair[];
  aggregator: "sum";
}

/** One latency series: its labels, count, sum and per-bucket (not cumulative) counts. */
interface LatencySeries {
  labels: { verb: string; resource: string };
  count: number;
  sum: number;
  buckets: Float64Array;
}

/** One request-count series. */
interface CountSeries {
  labels: { verb: string; resource: string; code: string };
  value: number;
  /** The latency series of its verb and resource (undefined after the histogram's reset, until the next request). */
  latency: LatencySeries | undefined;
}

/** A metric the registry reads through `get` / `getForPromString`, as it reads prom-client's own. */
class Exposition {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "histogram";
  readonly aggregator = "sum" as const;
  readonly #values: () => ValuePair[];
  readonly #reset: () => void;

  constructor(o: { name: string; help: string; type: "counter" | "histogram"; values: () => ValuePair[]; reset: () => void }) {
    this.name = o.name;
    this.help = o.help;
    this.type = o.type;
    this.#values = o.values;
    this.#reset = o.reset;
  }

  async getForPromString(): Promise<Exposed> {
    return { name: this.name, help: this.help, type: this.type, values: this.#values(), aggregator: this.aggregator };
  }

  /** As prom-client's `get`: shared labels folded into each value's labels. */
  async get(): Promise<Exposed> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } }));
    return data;
  }

  reset(): void {
    this.#reset();
  }
}

export interface RequestMetricsOptions {
  registry: Registry;
  countName: string;
  countHelp: string;
  latencyName: string;
  latencyHelp: string;
  /** Latency bucket upper bounds in seconds, ascending. */
  buckets: number[];
}

/** Records requests into a counter (verb, resource, code) and a latency histogram (verb, resource) registered in `registry`. */
export class RequestMetrics {
  readonly #bounds: number[];
  readonly #counts = new Map<string, CountSeries>();
  readonly #latency = new Map<string, LatencySeries>();

  constructor(o: RequestMetricsOptions) {
    this.#bounds = [...o.buckets];
    const counts = new Exposition({
      name: o.countName,
      help: o.countHelp,
      type: "counter",
      values: () => [...this.#counts.values()].map((s) => ({ value: s.value, labels: s.labels })),
      reset: () => this.#counts.clear(),
    });
    const latency = new Exposition({
      name: o.latencyName,
      help: o.latencyHelp,
      type: "histogram",
      values: () => this.#latencyValues(o.latencyName),
      reset: () => {
        this.#latency.clear();
        for (const s of this.#counts.values()) s.latency = undefined;
      },
    });
    o.registry.registerMetric(counts as unknown as Metric);
    o.registry.registerMetric(latency as unknown as Metric);
  }

  /** Counts one request and observes its latency. */
  record(verb: string, resource: string, code: number, seconds: number): void {
    const key = `${verb} ${resource} ${code}`;
    let count = this.#counts.get(key);
    if (!count) {
      count = { labels: { verb, resource, code: String(code) }, value: 0, latency: this.#latencySeries(verb, resource) };
      this.#counts.set(key, count);
    }
    count.value++;
    const latency = (count.latency ??= this.#latencySeries(verb, resource));
    latency.count++;
    latency.sum += seconds;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]!) {
        latency.buckets[i]!++;
        break;
      }
    }
  }

  #latencySeries(verb: string, resource: string): LatencySeries {
    const key = `${verb} ${resource}`;
    let series = this.#latency.get(key);
    if (!series) {
      series = { labels: { verb, resource }, count: 0, sum: 0, buckets: new Float64Array(this.#bounds.length) };
      this.#latency.set(key, series);
    }
    return series;
  }

  /** The histogram's lines in prom-client's order: cumulative buckets, +Inf, sum, count, series by series. */
  #latencyValues(name: string): ValuePair[] {
    const values: ValuePair[] = [];
    for (const s of this.#latency.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.#bounds.length; i++) {
        cumulative += s.buckets[i]!;
        values.push({ labels: { le: this.#bounds[i]! }, sharedLabels: s.labels, value: cumulative, metricName: `${name}_bucket`, exemplar: null });
      }
      values.push({ labels: { le: "+Inf" }, sharedLabels: s.labels, value: s.count, metricName: `${name}_bucket`, exemplar: null });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.sum, metricName: `${name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: s.labels, value: s.count, metricName: `${name}_count`, exemplar: undefined });
    }
    return values;
  }
}
