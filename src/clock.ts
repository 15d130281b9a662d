// The clock and timers, injected wherever behaviour depends on time
// (bookmarks, watch timeouts, compaction, backoff, leases) so tests can drive
// time deterministically.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Timer;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Timer;
}

/** The real clock; its timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};

/** A clock that moves only when told to; for tests. */
export class ManualClock implements Clock {
  #now: number;
  #timers: Array<{ at: number; every: number; fn: () => void; live: boolean }> = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): Timer {
    return this.#add(ms, 0, fn);
  }

  every(ms: number, fn: () => void): Timer {
    if (!(ms > 0)) throw new RangeError(`clock: interval must be positive, got ${ms}`);
    return this.#add(ms, ms, fn);
  }

  /** Moves time forward by `ms`, firing due timers in time order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.live && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#now = due.at;
      if (due.every > 0) due.at += due.every;
      else due.live = false;
      due.fn();
    }
    this.#now = target;
    this.#timers = this.#timers.filter((t) => t.live);
  }

  #add(ms: number, every: number, fn: () => void): Timer {
    const t = { at: this.#now + ms, every, fn, live: true };
    this.#timers.push(t);
    return { cancel: () => (t.live = false) };
  }
}
