// A clock for servers under test whose time a test can move forward while its
// timers keep running in real time: the system clock, with now() `offset` ms
// ahead. Tests of compaction use it so that "everything committed so far is
// older than the history window" holds however fast the test ran.

import { systemClock, type Clock } from "../../src/clock.ts";

export interface SkewedClock extends Clock {
  /** Moves now() forward by `ms`. */
  skip(ms: number): void;
}

export function skewedClock(): SkewedClock {
  let offset = 0;
  return {
    ...systemClock,
    now: () => Date.now() + offset,
    skip(ms) {
      offset += ms;
    },
  };
}
