// Latency statistics: a log-bucketed histogram (1% relative precision, from
// 1 µs to ~20 min) that worker processes fill and send to the bench as sparse
// bucket counts, so millions of deliveries are summarised without shipping
// every sample; plus plain percentiles over small sample arrays.

const MIN_MS = 0.001;
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 2400;

/** Summary of a latency distribution, in ms. */
export interface LatencySummary {
  count: number;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  mean_ms: number | null;
}

/** Sparse wire form of a Histogram: [bucket, count] pairs plus exact count/max/sum. */
export interface HistogramData {
  buckets: Array<[number, number]>;
  count: number;
  max: number;
  sum: number;
}

export class Histogram {
  #counts = new Uint32Array(BUCKETS);
  count = 0;
  max = 0;
  sum = 0;

  record(ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH));
    this.#counts[i]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(data: HistogramData): void {
    for (const [i, c] of data.buckets) this.#counts[i]! += c;
    this.count += data.count;
    this.sum += data.sum;
    if (data.max > this.max) this.max = data.max;
  }

  toJSON(): HistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i]! > 0) buckets.push([i, this.#counts[i]!]);
    return { buckets, count: this.count, max: this.max, sum: this.sum };
  }

  /** The value at quantile q (0..1), to 1%; the exact max for q = 1. */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    if (q >= 1) return this.max;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return i === 0 ? MIN_MS : Math.min(this.max, MIN_MS * GROWTH ** (i - 0.5));
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      p50_ms: round(this.quantile(0.5)),
      p99_ms: round(this.quantile(0.99)),
      max_ms: round(this.count ? this.max : null),
      mean_ms: round(this.count ? this.sum / this.count : null),
    };
  }
}

/** Summary of raw samples in ms. */
export function summarize(samples: number[]): LatencySummary {
  const h = new Histogram();
  for (const s of samples) h.record(s);
  return h.summary();
}

/** Rounds to 3 significant decimals for output (null stays null). */
export function round(x: number | null | undefined, digits = 3): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Milliseconds since `start` (a process.hrtime.bigint() value). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Monotonic microseconds, comparable across processes on one machine (CLOCK_MONOTONIC). */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}
