// The soak's levelling-off criterion on made-up curves.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { levelling } from "../../bench/lib/levelling.ts";

const curve = (f: (t: number) => number, seconds = 1800, every = 10) =>
  Array.from({ length: seconds / every + 1 }, (_, i) => [i * every, f(i * every)] as const);

describe("levelling", () => {
  it("a curve that fills up in the first third and then stays flat (with noise) levelled off", () => {
    const l = levelling(curve((t) => Math.min(300, 100 + t / 2) + (t % 30 === 0 ? 8 : 0)));
    assert.equal(l.levelled_off, true, JSON.stringify(l));
    assert.ok(Math.abs(l.slope_per_min) < 0.5, JSON.stringify(l));
  });

  it("a curve that oscillates (a GC sawtooth) with its highest top in the last third, but no higher than in the first, levelled off", () => {
    // As in a 30-minute soak: ~255–260 with every ninth sample near a top (302 in the first third, 285 in the calmer middle one), and a top of 309 late in the run.
    const top = (t: number) => (t <= 600 ? 47 : t <= 1200 ? 30 : 40);
    const l = levelling(curve((t) => (t === 1700 ? 309 : 255 + ((t / 10) % 9 === 0 ? top(t) : (t / 10) % 5))));
    assert.equal(l.levelled_off, true, JSON.stringify(l));
    assert.ok(l.last_max > l.middle_max * 1.05, "the last third's top is higher than the middle's");
  });

  it("a curve whose typical value stays flat but reaches a new peak well above all before did not", () => {
    const l = levelling(curve((t) => (t === 1700 ? 400 : 255 + ((t / 10) % 5))));
    assert.equal(l.levelled_off, false, JSON.stringify(l));
  });

  it("a curve still growing by 1% of its size a minute did not", () => {
    const l = levelling(curve((t) => 300 * (1 + (0.01 * t) / 60)));
    assert.equal(l.levelled_off, false, JSON.stringify(l));
    assert.ok(l.ratio > 1.05 && l.slope_per_min > 2.9, JSON.stringify(l));
  });

  it("the first run of the issue's soak (376 → 490 MiB over 20 minutes) did not", () => {
    const l = levelling(curve((t) => 376 + (114 * t) / 1200, 1200));
    assert.equal(l.levelled_off, false, JSON.stringify(l));
  });

  it("a curve that falls levelled off; too few samples did not", () => {
    assert.equal(levelling(curve((t) => 500 - t / 10)).levelled_off, true);
    assert.equal(levelling([[0, 1]]).levelled_off, false);
    assert.equal(levelling([]).levelled_off, false);
  });
});
