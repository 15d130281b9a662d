// Whether a curve sampled over a run levelled off, by one stated criterion.
// Split the run into thirds by time; the first third is warm-up (history,
// replay window and heap filling up). The curve levelled off if
//   - its median over the last third is at most its median over the middle
//     third times (1 + tolerance): a curve that keeps growing moves its whole
//     distribution up, and
//   - its highest value in the last third is at most its highest value in
//     the first two thirds times (1 + tolerance): no new peak.
// Medians rather than maxima for the trend, because a server's memory
// oscillates with garbage collection (in a 30-minute soak RSS went between
// ~255 and ~310 MiB with the V8 heap's sawtooth, in every third), and one
// sample near a sawtooth's top says nothing about growth. The slope over the
// last two thirds (least squares, per minute) is reported beside it.

export interface Levelling {
  /** Median and highest value in each third of the run. */
  first_median: number;
  middle_median: number;
  last_median: number;
  first_max: number;
  middle_max: number;
  last_max: number;
  /** last_median / middle_median. */
  ratio: number;
  /** last_max / max(first_max, middle_max). */
  peak_ratio: number;
  /** Growth per minute over the last two thirds (least squares). */
  slope_per_min: number;
  levelled_off: boolean;
}

/** The criterion in words, for reports. */
export function levellingCriterion(tolerance: number): string {
  const f = 1 + tolerance;
  return `median of the last third of the run <= median of the middle third x ${f}, and max of the last third <= max of the first two thirds x ${f} (the first third is warm-up)`;
}

/** Judges the curve `points` ([seconds, value], in time order) by the criterion above; not levelled off without samples in the middle and last thirds. */
export function levelling(points: ReadonlyArray<readonly [number, number]>, tolerance = 0.05): Levelling {
  const end = points.at(-1)?.[0] ?? 0;
  const values = (from: number, to: number) => points.filter(([t]) => (from === 0 ? t >= 0 : t > end * from) && t <= end * to).map(([, v]) => v);
  const first = values(0, 1 / 3);
  const middle = values(1 / 3, 2 / 3);
  const last = values(2 / 3, 1);
  const before = Math.max(max(first), max(middle));
  const ok = middle.length > 0 && last.length > 0 && median(last) <= median(middle) * (1 + tolerance) && max(last) <= before * (1 + tolerance);
  return {
    first_median: round(median(first), 3),
    middle_median: round(median(middle), 3),
    last_median: round(median(last), 3),
    first_max: max(first),
    middle_max: max(middle),
    last_max: max(last),
    ratio: round(median(last) / median(middle), 3),
    peak_ratio: round(max(last) / before, 3),
    slope_per_min: round(slope(points.filter(([t]) => t > end / 3)) * 60, 3),
    levelled_off: ok,
  };
}

function max(xs: number[]): number {
  return xs.length ? Math.max(...xs) : NaN;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Least-squares slope of `points` (value per second); 0 for fewer than two distinct times. */
function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let st = 0;
  let sv = 0;
  for (const [t, v] of points) {
    st += t;
    sv += v;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of points) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
