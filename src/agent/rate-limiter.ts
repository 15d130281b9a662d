// Rate limiters: how long to wait before retrying a key, like client-go's
// `workqueue.RateLimiter`. They know nothing of queues.
//
// - `when(key)` records one more retry of `key` and returns the wait in ms;
//   `forget(key)` clears the key's history (call it once the key succeeds);
//   `numRequeues(key)` counts the retries since the last `forget`.
// - Per-item exponential backoff: base·2^n for the n-th retry (from 0),
//   capped; keys back off independently.
// - Token bucket: all keys share `qps` retries per second with bursts of up to
//   `burst`; each `when` reserves a token and returns the wait until it is
//   due. Time comes from the injected clock.
// - Max-of: the longest wait of several limiters, each of which records the
//   retry.

import { systemClock, type Clock } from "../clock.ts";

/** Decides how long a key waits before its next retry. */
export interface RateLimiter {
  /** Records a retry of `key` and returns how many ms to wait before it. */
  when(key: string): number;
  /** Clears the retry history of `key`. */
  forget(key: string): void;
  /** Retries of `key` since it was last forgotten. */
  numRequeues(key: string): number;
}

export interface ExponentialFailureRateLimiterOptions {
  /** Wait before the first retry. Default 5 ms. */
  baseDelayMs?: number;
  /** Longest wait. Default 1,000,000 ms (1000 s). */
  maxDelayMs?: number;
}

/**
 * Per-key exponential backoff: waits base, 2·base, 4·base, … up to the cap.
 * @example
 * const limiter = exponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 60_000 });
 * limiter.when("a"); // 5
 * limiter.when("a"); // 10
 */
export function exponentialFailureRateLimiter(options: ExponentialFailureRateLimiterOptions = {}): RateLimiter {
  const base = options.baseDelayMs ?? 5;
  const max = options.maxDelayMs ?? 1_000_000;
  if (!(base >= 0) || !Number.isFinite(base)) throw new RangeError(`rate-limiter: baseDelayMs must be a finite number >= 0, got ${base}`);
  if (!(max >= base)) throw new RangeError(`rate-limiter: maxDelayMs must be >= baseDelayMs (${base}), got ${max}`);
  /** Retries per key since its last `forget`; keys with none are absent. */
  const failures = new Map<string, number>();
  return {
    when(key) {
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      return Math.min(base * 2 ** n, max);
    },
    forget(key) {
      failures.delete(key);
    },
    numRequeues(key) {
      return failures.get(key) ?? 0;
    },
  };
}

export interface BucketRateLimiterOptions {
  /** Sustained retries per second over all keys. Default 10. */
  qps?: number;
  /** Retries allowed at once when the bucket is full (it starts full). Default 100. */
  burst?: number;
  /** Time source. Default `systemClock`. */
  clock?: Clock;
}

/** A token bucket shared by all keys: `qps` per second, bursts of `burst`. Tracks no per-key history. */
export function bucketRateLimiter(options: BucketRateLimiterOptions = {}): RateLimiter {
  const qps = options.qps ?? 10;
  const burst = options.burst ?? 100;
  const clock = options.clock ?? systemClock;
  if (!(qps > 0) || !Number.isFinite(qps)) throw new RangeError(`rate-limiter: qps must be a finite number > 0, got ${qps}`);
  if (!Number.isInteger(burst) || burst < 1) throw new RangeError(`rate-limiter: burst must be an integer >= 1, got ${burst}`);
  const interval = 1000 / qps;
  // Generic cell rate algorithm: `full` is when the bucket would be full
  // again if nothing more were taken; it is never more than `burst`
  // intervals ahead of a granted token's due time.
  let full = clock.now();
  return {
    when() {
      const now = clock.now();
      full = Math.max(full, now) + interval;
      return Math.max(0, Math.ceil(full - burst * interval - now));
    },
    forget() {},
    numRequeues() {
      return 0;
    },
  };
}

/** Combines limiters: waits the longest of their waits; requeues are the most any of them counts. */
export function maxOfRateLimiter(limiters: readonly RateLimiter[]): RateLimiter {
  if (limiters.length === 0) throw new RangeError("rate-limiter: maxOfRateLimiter needs at least one limiter");
  const all = [...limiters];
  return {
    when(key) {
      let wait = 0;
      for (const limiter of all) wait = Math.max(wait, limiter.when(key));
      return wait;
    },
    forget(key) {
      for (const limiter of all) limiter.forget(key);
    },
    numRequeues(key) {
      let n = 0;
      for (const limiter of all) n = Math.max(n, limiter.numRequeues(key));
      return n;
    },
  };
}

export interface DefaultControllerRateLimiterOptions {
  /** Time source for the bucket. Default `systemClock`. */
  clock?: Clock;
}

/** client-go's default: the longer of per-key backoff (5 ms … 1000 s) and a shared bucket (10 qps, burst 100). */
export function defaultControllerRateLimiter(options: DefaultControllerRateLimiterOptions = {}): RateLimiter {
  return maxOfRateLimiter([
    exponentialFailureRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000_000 }),
    bucketRateLimiter({ qps: 10, burst: 100, clock: options.clock ?? systemClock }),
  ]);
}
