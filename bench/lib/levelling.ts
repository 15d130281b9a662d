// Whether a curve sampled over a run levelled off, by one stated criterion:
// split the run into thirds by time; the first third is warm-up (history,
// replay window and heap filling up); the curve levelled off if the highest
// value of the last third is at most the highest value of the middle third
// times (1 + tolerance). The slope over the last two thirds (least squares,
// per minute) is reported beside it, to show how fast a curve that did not
// level off still grows.

export interface Levelling {
  /** Highest value in each third of the run. */
  first_max: number;
  middle_max: number;
  last_max: number;
  /** last_max / middle_max. */
  ratio: number;
  /** Growth per minute over the last two thirds (least squares). */
  slope_per_min: number;
  levelled_off: boolean;
}

/** The criterion in words, for reports. */
export function levellingCriterion(tolerance: number): string {
  return `max of the last third of the run <= max of the middle third x ${1 + tolerance} (the first third is warm-up)`;
}

/** Judges the curve `points` ([seconds, value], in time order) by the criterion above; not levelled off without samples in the middle and last thirds. */
export function levelling(points: ReadonlyArray<readonly [number, number]>, tolerance = 0.05): Levelling {
  const end = points.at(-1)?.[0] ?? 0;
  const third = (from: number, to: number) => points.filter(([t]) => t > end * from && t <= end * to).map(([, v]) => v);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);
  const first = points.filter(([t]) => t <= end / 3).map(([, v]) => v);
  const middle = third(1 / 3, 2 / 3);
  const last = third(2 / 3, 1);
  const middleMax = max(middle);
  const lastMax = max(last);
  const tail = points.filter(([t]) => t > end / 3);
  return {
    first_max: max(first),
    middle_max: middleMax,
    last_max: lastMax,
    ratio: round(lastMax / middleMax, 3),
    slope_per_min: round(slope(tail) * 60, 3),
    levelled_off: middle.length > 0 && last.length > 0 && lastMax <= middleMax * (1 + tolerance),
  };
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
