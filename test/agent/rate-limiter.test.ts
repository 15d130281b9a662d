import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { bucketRateLimiter, defaultControllerRateLimiter, exponentialFailureRateLimiter, maxOfRateLimiter, type RateLimiter } from "../../src/agent.ts";

const waits = (limiter: RateLimiter, key: string, n: number) => Array.from({ length: n }, () => limiter.when(key));

test("exponential: 5, 10, 20, 40 ms … per key, counted, reset by forget", () => {
  const limiter = exponentialFailureRateLimiter();
  assert.deepEqual(waits(limiter, "a", 6), [5, 10, 20, 40, 80, 160]);
  assert.equal(limiter.numRequeues("a"), 6);
  assert.deepEqual(waits(limiter, "b", 2), [5, 10], "keys back off independently");
  limiter.forget("a");
  assert.equal(limiter.numRequeues("a"), 0);
  assert.equal(limiter.when("a"), 5);
  assert.equal(limiter.numRequeues("b"), 2);
});

test("exponential: capped at 1000 s by default, and at maxDelayMs when given", () => {
  const limiter = exponentialFailureRateLimiter();
  const all = waits(limiter, "a", 40);
  assert.equal(all[17], 5 * 2 ** 17); // 655,360 ms
  assert.equal(all[18], 1_000_000);
  assert.equal(all[39], 1_000_000);
  assert.equal(Math.max(...waits(limiter, "a", 2000)), 1_000_000, "no overflow to Infinity or NaN");

  const custom = exponentialFailureRateLimiter({ baseDelayMs: 100, maxDelayMs: 1000 });
  assert.deepEqual(waits(custom, "k", 6), [100, 200, 400, 800, 1000, 1000]);
});

test("exponential: rejects bad options", () => {
  assert.throws(() => exponentialFailureRateLimiter({ baseDelayMs: -1 }), RangeError);
  assert.throws(() => exponentialFailureRateLimiter({ baseDelayMs: 10, maxDelayMs: 5 }), RangeError);
  assert.throws(() => exponentialFailureRateLimiter({ baseDelayMs: Number.NaN }), RangeError);
});

test("bucket: a full burst is free, then one token per 1/qps, shared by all keys", () => {
  const clock = new ManualClock(50_000);
  const limiter = bucketRateLimiter({ qps: 10, burst: 100, clock });
  for (let i = 0; i < 100; i++) assert.equal(limiter.when(`k${i}`), 0, `token ${i} of the burst`);
  assert.equal(limiter.when("x"), 100);
  assert.equal(limiter.when("y"), 200);
  assert.equal(limiter.when("x"), 300);
  clock.advance(250);
  // 2.5 tokens' worth of time has passed: the next reservation is due 50 ms after the one due at 300.
  assert.equal(limiter.when("z"), 400 - 250);
  assert.equal(limiter.numRequeues("x"), 0);
  limiter.forget("x"); // no per-key state: nothing changes
  assert.equal(limiter.when("x"), 500 - 250);
});

test("bucket: refills at qps up to burst, never beyond", () => {
  const clock = new ManualClock();
  const limiter = bucketRateLimiter({ qps: 2, burst: 3, clock });
  assert.deepEqual(waits(limiter, "a", 5), [0, 0, 0, 500, 1000]);
  clock.advance(60_000); // long idle: full again, but only 3 tokens
  assert.deepEqual(waits(limiter, "a", 5), [0, 0, 0, 500, 1000]);
  clock.advance(1500); // three tokens' time: pays the two reservations, refills one
  assert.deepEqual(waits(limiter, "a", 2), [0, 500]);
});

test("bucket: rejects bad options", () => {
  assert.throws(() => bucketRateLimiter({ qps: 0 }), RangeError);
  assert.throws(() => bucketRateLimiter({ qps: Number.POSITIVE_INFINITY }), RangeError);
  assert.throws(() => bucketRateLimiter({ burst: 0 }), RangeError);
  assert.throws(() => bucketRateLimiter({ burst: 1.5 }), RangeError);
});

test("max-of: waits the longest, every limiter records, counts the most requeues", () => {
  const clock = new ManualClock();
  const fast = exponentialFailureRateLimiter({ baseDelayMs: 1 });
  const slow = exponentialFailureRateLimiter({ baseDelayMs: 30, maxDelayMs: 40 });
  const limiter = maxOfRateLimiter([fast, slow, bucketRateLimiter({ qps: 1, burst: 1, clock })]);
  assert.equal(limiter.when("a"), 30);
  assert.equal(limiter.when("a"), 1000, "the bucket's second token is 1 s away");
  assert.equal(fast.numRequeues("a"), 2);
  assert.equal(slow.numRequeues("a"), 2);
  assert.equal(limiter.numRequeues("a"), 2);
  limiter.forget("a");
  assert.equal(fast.numRequeues("a"), 0);
  assert.equal(slow.numRequeues("a"), 0);
  assert.throws(() => maxOfRateLimiter([]), RangeError);
});

test("default controller limiter: max(5 ms … 1000 s per key, 10 qps burst 100 overall)", () => {
  const clock = new ManualClock();
  const limiter = defaultControllerRateLimiter({ clock });
  assert.deepEqual(waits(limiter, "a", 4), [5, 10, 20, 40]);
  assert.equal(limiter.numRequeues("a"), 4);
  for (let i = 4; i < 100; i++) assert.equal(limiter.when(`k${i}`), 5, "within the burst, per-key backoff rules");
  assert.equal(limiter.when("late"), 100, "past the burst, the bucket rules");
  limiter.forget("a");
  clock.advance(20_000);
  assert.equal(limiter.when("a"), 5);
  const capped = defaultControllerRateLimiter({ clock });
  assert.equal(waits(capped, "b", 30).at(-1), 1_000_000);
});
