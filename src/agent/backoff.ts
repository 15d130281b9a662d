// Capped exponential backoff with jitter, for reconnecting to a server that is
// down or misbehaving: the n-th consecutive failure waits
// min(maxMs, initialMs·factor^n) scaled by a random factor in [1 - jitter, 1],
// so replicas that failed together do not retry together. `sleep` waits on
// the injected clock and wakes early when its signal aborts.

import type { Clock } from "../clock.ts";

export interface BackoffOptions {
  /** Wait after the first failure, before jitter. Default 250 ms. */
  initialMs?: number;
  /** Longest wait. Default 15000 ms. */
  maxMs?: number;
  /** Growth per failure. Default 2. */
  factor?: number;
  /** Fraction of each wait that is random, in [0, 1]. Default 0.5. */
  jitter?: number;
  /** Source of randomness in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** Consecutive-failure backoff; `reset()` after a success. */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #jitter: number;
  readonly #random: () => number;
  /** Failures since the last reset. */
  #failures = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 250;
    this.#max = options.maxMs ?? 15_000;
    this.#factor = options.factor ?? 2;
    this.#jitter = options.jitter ?? 0.5;
    this.#random = options.random ?? Math.random;
    if (!(this.#initial > 0)) throw new RangeError(`backoff: initialMs must be > 0, got ${this.#initial}`);
    if (!(this.#max >= this.#initial)) throw new RangeError(`backoff: maxMs must be >= initialMs, got ${this.#max}`);
    if (!(this.#factor >= 1)) throw new RangeError(`backoff: factor must be >= 1, got ${this.#factor}`);
    if (!(this.#jitter >= 0 && this.#jitter <= 1)) throw new RangeError(`backoff: jitter must be in [0, 1], got ${this.#jitter}`);
  }

  /** Records a failure and returns how long to wait before the next try. */
  next(): number {
    const base = Math.min(this.#max, this.#initial * this.#factor ** this.#failures);
    this.#failures++;
    return Math.round(base * (1 - this.#jitter * this.#random()));
  }

  reset(): void {
    this.#failures = 0;
  }

  get failures(): number {
    return this.#failures;
  }
}

/** Resolves after `ms` on `options.clock`, or at once when `options.signal` aborts. */
export function sleep(ms: number, options: { clock: Clock; signal?: AbortSignal | undefined }): Promise<void> {
  const { clock, signal } = options;
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const wake = () => {
      timer.cancel();
      signal?.removeEventListener("abort", wake);
      resolve();
    };
    const timer = clock.after(ms, wake);
    signal?.addEventListener("abort", wake, { once: true });
  });
}
