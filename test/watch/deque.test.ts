// The deque behind the hub's replay window: first in, first out, indexed from
// the oldest item, across the point where it gives back its emptied front.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Deque } from "../../src/watch/deque.ts";

/** Every item, oldest first, read through at(). */
function items<T>(d: Deque<T>): T[] {
  return Array.from({ length: d.length }, (_, i) => d.at(i)!);
}

describe("Deque", () => {
  it("shifts in the order pushed and reads by index from the oldest", () => {
    const d = new Deque<number>();
    for (let i = 1; i <= 5; i++) d.push(i);
    assert.equal(d.shift(), 1);
    assert.equal(d.shift(), 2);
    d.push(6);
    assert.equal(d.length, 4);
    assert.deepEqual(items(d), [3, 4, 5, 6]);
    assert.equal(d.at(-1), undefined);
    assert.equal(d.at(4), undefined);
  });

  it("is empty after shifting everything, and shift() on empty is undefined", () => {
    const d = new Deque<string>();
    assert.equal(d.shift(), undefined);
    d.push("a");
    d.push("b");
    assert.equal(d.shift(), "a");
    assert.equal(d.shift(), "b");
    assert.equal(d.length, 0);
    assert.equal(d.shift(), undefined);
    assert.equal(d.at(0), undefined);
    d.push("c");
    assert.deepEqual(items(d), ["c"]);
  });

  it("keeps order and indexes right while used as a full window far past its compaction points", () => {
    // A window of 3000 that drops one for each new one, as the hub's does once full.
    const d = new Deque<number>();
    const bound = 3000;
    let next = 0;
    for (; next < bound; next++) d.push(next);
    for (let round = 0; round < 10_000; round++) {
      d.push(next++);
      assert.equal(d.shift(), next - bound - 1);
      if (round % 997 === 0) {
        assert.equal(d.length, bound);
        assert.equal(d.at(0), next - bound);
        assert.equal(d.at(bound - 1), next - 1);
        assert.equal(d.at(1234), next - bound + 1234);
      }
    }
    assert.deepEqual(
      items(d),
      Array.from({ length: bound }, (_, i) => next - bound + i),
    );
  });

  it("drains a long run in order, then starts over", () => {
    const d = new Deque<number>();
    for (let i = 0; i < 5000; i++) d.push(i);
    for (let i = 0; i < 4000; i++) assert.equal(d.shift(), i);
    assert.deepEqual(
      items(d),
      Array.from({ length: 1000 }, (_, i) => 4000 + i),
    );
    d.clear();
    assert.equal(d.length, 0);
    d.push(7);
    assert.deepEqual(items(d), [7]);
  });
});
