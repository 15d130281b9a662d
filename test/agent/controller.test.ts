import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock, systemClock } from "../../src/clock.ts";
import { runWorkers, type ReconcileContext, type ReconcileResult, type RunWorkersOptions } from "../../src/agent/controller.ts";
import { createRateLimitedQueue, type RateLimitedQueue } from "../../src/agent/rate-limited-queue.ts";

/** Lets every pending promise chain run (with a ManualClock nothing waits on real timers or I/O). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Rejects if `p` has not settled within `ms` of real time: a deadline, not a sleep. */
async function within<T>(p: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Tracks whether a promise has settled, without awaiting it. */
function watch(p: Promise<unknown>): { readonly settled: boolean } {
  const state = { settled: false };
  void p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

/** An unbounded channel: producers push, the test awaits `next()`. */
class Channel<T> {
  #buffer: T[] = [];
  #waiters: Array<(value: T) => void> = [];
  push(value: T): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(value);
    else this.#buffer.push(value);
  }
  next(what = "the next value"): Promise<T> {
    const value = this.#buffer.shift();
    if (value !== undefined) return Promise.resolve(value);
    return within(new Promise<T>((resolve) => this.#waiters.push(resolve)), what);
  }
  /** Values pushed and not yet taken. */
  get buffered(): number {
    return this.#buffer.length;
  }
}

/** One reconcile in flight, settled by the test. */
interface Call {
  key: string;
  at: number;
  signal: AbortSignal;
  resolve(result?: ReconcileResult): void;
  reject(error: unknown): void;
}

/** A controller over a ManualClock whose reconciles wait for the test to settle them. */
function harness(options: Partial<RunWorkersOptions> = {}) {
  const clock = new ManualClock();
  const queue = createRateLimitedQueue({ clock });
  const stop = new AbortController();
  const calls = new Channel<Call>();
  const errors = new Channel<{ key: string; error: unknown }>();
  const active = new Map<string, number>();
  const stats = { total: 0, running: 0, maxRunning: 0, maxPerKey: 0 };
  const reconcile = (key: string, ctx: ReconcileContext) =>
    new Promise<ReconcileResult | void>((resolve, reject) => {
      stats.total++;
      stats.running++;
      stats.maxRunning = Math.max(stats.maxRunning, stats.running);
      const n = (active.get(key) ?? 0) + 1;
      active.set(key, n);
      stats.maxPerKey = Math.max(stats.maxPerKey, n);
      let open = true;
      const finish = () => {
        if (!open) return false;
        open = false;
        stats.running--;
        active.set(key, (active.get(key) ?? 1) - 1);
        return true;
      };
      calls.push({
        key,
        at: clock.now(),
        signal: ctx.signal,
        resolve: (result) => finish() && resolve(result),
        reject: (error) => finish() && reject(error),
      });
    });
  const run = runWorkers({
    queue,
    reconcile,
    signal: stop.signal,
    clock,
    workers: 1,
    shutdownGraceMs: 1000,
    onError: (key, error) => errors.push({ key, error }),
    ...options,
  });
  return { clock, queue, stop, calls, errors, stats, run };
}

test("controller: a throwing reconcile is retried with backoff 5, 10, 20, 40, 80 ms; success resets it", async () => {
  const h = harness();
  h.queue.add("a");
  const times: number[] = [];
  for (const wait of [5, 10, 20, 40, 80]) {
    const call = await h.calls.next("a reconcile of a");
    times.push(call.at);
    call.reject(new Error("boom"));
    const { key, error } = await h.errors.next("onError");
    assert.equal(key, "a");
    assert.match(String(error), /boom/);
    h.clock.advance(wait - 1);
    await settle();
    assert.equal(h.calls.buffered, 0, `no retry before ${wait} ms`);
    h.clock.advance(1);
  }
  const ok = await h.calls.next("the sixth reconcile");
  times.push(ok.at);
  assert.deepEqual(times, [0, 5, 15, 35, 75, 155]);
  assert.equal(h.queue.numRequeues("a"), 5);
  ok.resolve();
  await settle();
  assert.equal(h.queue.numRequeues("a"), 0, "success forgets the backoff");

  h.queue.add("a");
  const again = await h.calls.next("a reconcile after success");
  again.reject(new Error("boom"));
  await h.errors.next("onError");
  h.clock.advance(5);
  const retried = await h.calls.next("the retry");
  assert.equal(retried.at - again.at, 5, "backoff starts over at 5 ms");
  retried.resolve();
  h.stop.abort();
  await within(h.run, "shutdown");
});

test("controller: requeueAfter reconciles the key again after that delay", async () => {
  const h = harness();
  h.queue.add("a");
  const first = await h.calls.next();
  first.resolve({ requeueAfter: 1000 });
  await settle();
  h.clock.advance(999);
  await settle();
  assert.equal(h.calls.buffered, 0);
  h.clock.advance(1);
  const second = await h.calls.next("the requeued reconcile");
  assert.equal(second.at, 1000);
  second.resolve();
  h.clock.advance(10_000);
  await settle();
  assert.equal(h.calls.buffered, 0, "no result, no requeue");
  assert.equal(h.stats.total, 2);
  h.stop.abort();
  await within(h.run, "shutdown");
});

test("controller: 100 adds to one key while its reconcile is slow lead to one more reconcile, not two at once", async () => {
  const h = harness({ workers: 4 });
  h.queue.add("a");
  const slow = await h.calls.next("the slow reconcile");
  for (let i = 0; i < 100; i++) {
    h.queue.add("a");
    if (i % 10 === 0) await settle();
  }
  // Other keys still flow through the other workers meanwhile.
  h.queue.add("b");
  h.queue.add("c");
  const others = [await h.calls.next("b"), await h.calls.next("c")];
  assert.deepEqual(
    others.map((c) => c.key),
    ["b", "c"],
  );
  for (const c of others) c.resolve();
  await settle();
  assert.equal(h.calls.buffered, 0, "no worker picks up a while it is being reconciled");

  slow.resolve();
  const second = await h.calls.next("the follow-up reconcile");
  assert.equal(second.key, "a");
  second.resolve();
  await settle();
  h.clock.advance(60_000);
  await settle();
  assert.equal(h.calls.buffered, 0, "the 100 adds collapse into one more pass");
  assert.equal(h.stats.total, 4); // a, b, c, a
  assert.equal(h.stats.maxPerKey, 1);
  h.stop.abort();
  await within(h.run, "shutdown");
});

test("controller: never reconciles one key on two workers, and loses no add (stress, real clock)", async () => {
  const queue = createRateLimitedQueue();
  const keys = ["k0", "k1", "k2", "k3", "k4"];
  let seq = 0;
  const lastAdd = new Map<string, number>();
  const lastStart = new Map<string, number>();
  const active = new Map<string, number>();
  let running = 0;
  let maxRunning = 0;
  let maxPerKey = 0;
  let random = 12345; // a fixed LCG, so the schedule is the same every run
  const rand = (n: number) => {
    random = (random * 1103515245 + 12345) % 2 ** 31;
    return random % n;
  };
  const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
  const run = runWorkers({
    queue,
    workers: 8,
    signal: new AbortController().signal,
    reconcile: async (key) => {
      lastStart.set(key, ++seq);
      const n = (active.get(key) ?? 0) + 1;
      active.set(key, n);
      maxPerKey = Math.max(maxPerKey, n);
      maxRunning = Math.max(maxRunning, ++running);
      for (let i = rand(4); i > 0; i--) await tick();
      active.set(key, n - 1);
      running--;
    },
  });
  for (let i = 0; i < 3000; i++) {
    const key = keys[rand(keys.length)] as string;
    lastAdd.set(key, ++seq);
    queue.add(key);
    if (rand(3) === 0) await tick();
  }
  queue.shutDown(); // workers finish every key still queued or dirty, then stop
  await within(run, "the workers to drain the queue", 10_000);
  assert.equal(maxPerKey, 1, "a key was reconciled by two workers at once");
  assert.ok(maxRunning > 1 && maxRunning <= 8, `parallelism ${maxRunning} should be in 2..8`);
  for (const key of keys) {
    assert.ok((lastStart.get(key) ?? 0) > (lastAdd.get(key) ?? 0), `the last add of ${key} was never reconciled`);
  }
});

test("controller: at most `workers` reconciles run at once", async () => {
  const h = harness({ workers: 3 });
  for (let i = 0; i < 10; i++) h.queue.add(`k${i}`);
  const first = [await h.calls.next(), await h.calls.next(), await h.calls.next()];
  await settle();
  assert.equal(h.calls.buffered, 0);
  assert.deepEqual(
    first.map((c) => c.key),
    ["k0", "k1", "k2"],
  );
  first[1]?.resolve();
  const fourth = await h.calls.next("a freed worker to take the next key");
  assert.equal(fourth.key, "k3");
  await settle();
  assert.equal(h.calls.buffered, 0);
  assert.equal(h.stats.maxRunning, 3);
  for (const c of [first[0], first[2], fourth]) c?.resolve();
  h.stop.abort();
  await within(h.run, "shutdown");
});

test("controller: throwing and hanging reconciles do not stop the others", async () => {
  const clock = new ManualClock();
  const queue = createRateLimitedQueue({ clock });
  const stop = new AbortController();
  const succeeded = new Channel<string>();
  const errors = new Channel<{ key: string; error: unknown }>();
  let hungSignal: AbortSignal | undefined;
  const run = runWorkers({
    queue,
    clock,
    workers: 2,
    shutdownGraceMs: 100,
    signal: stop.signal,
    onError: (key, error) => errors.push({ key, error }),
    reconcile: (key, { signal }) => {
      if (key === "hang") {
        hungSignal = signal;
        return new Promise(() => {}); // never settles, ignores its signal
      }
      if (key === "throw") throw new Error("thrown synchronously");
      if (key === "reject") return Promise.reject(new Error("rejected"));
      succeeded.push(key);
      return Promise.resolve();
    },
  });
  for (const key of ["hang", "throw", "ok1", "reject", "ok2"]) queue.add(key);
  assert.equal(await succeeded.next("ok1"), "ok1");
  assert.equal(await succeeded.next("ok2"), "ok2");
  const failed = [await errors.next(), await errors.next()];
  assert.deepEqual(
    failed.map((e) => e.key),
    ["throw", "reject"],
  );
  assert.match(String(failed[0]?.error), /thrown synchronously/);
  clock.advance(5);
  const retried = [await errors.next("the retry of throw"), await errors.next("the retry of reject")];
  assert.deepEqual(retried.map((e) => e.key).sort(), ["reject", "throw"]);

  stop.abort();
  const stopped = watch(run);
  clock.advance(99);
  await settle();
  assert.equal(stopped.settled, false, "the hung reconcile gets the grace period");
  assert.equal(hungSignal?.aborted, false);
  clock.advance(1);
  await within(run, "shutdown after the grace period");
  assert.equal(hungSignal?.aborted, true);
  assert.equal((hungSignal?.reason as DOMException | undefined)?.name, "AbortError");
});

test("controller: reconcileTimeoutMs aborts a reconcile's signal; it is retried with backoff", async () => {
  const h = harness({ workers: 2, reconcileTimeoutMs: 50 });
  h.queue.add("a");
  const call = await h.calls.next();
  call.signal.addEventListener("abort", () => call.reject(call.signal.reason));
  h.clock.advance(49);
  await settle();
  assert.equal(call.signal.aborted, false);
  assert.equal(h.errors.buffered, 0);
  h.clock.advance(1);
  const { key, error } = await h.errors.next("the timeout error");
  assert.equal(key, "a");
  assert.equal((error as DOMException).name, "TimeoutError");
  assert.match((error as DOMException).message, /"a" timed out after 50 ms/);
  h.clock.advance(5);
  const retry = await h.calls.next("the retry");
  assert.equal(retry.at, 55);
  retry.resolve();
  await settle();
  h.clock.advance(1000);
  assert.equal(retry.signal.aborted, false, "a finished reconcile's timer is cancelled");
  h.stop.abort();
  await within(h.run, "shutdown");
});

test("controller: shutdown takes no more work and lets a running reconcile finish within the grace period", async () => {
  const h = harness({ workers: 1, shutdownGraceMs: 1000 });
  h.queue.add("a");
  h.queue.add("b");
  const a = await h.calls.next();
  h.stop.abort();
  assert.equal(h.queue.shuttingDown(), true);
  h.queue.add("c");
  const stopped = watch(h.run);
  h.clock.advance(999);
  await settle();
  assert.equal(stopped.settled, false);
  assert.equal(a.signal.aborted, false);
  a.resolve();
  await within(h.run, "shutdown once the running reconcile finished");
  assert.equal(h.stats.total, 1, "b and c were not reconciled");
  h.clock.advance(10_000);
  assert.equal(a.signal.aborted, false, "the grace timer is cancelled");
});

test("controller: at the end of the grace period running reconciles are aborted and abandoned", async () => {
  const h = harness({ workers: 2, shutdownGraceMs: 1000 });
  h.queue.add("honours");
  h.queue.add("ignores");
  const honours = await h.calls.next();
  const ignores = await h.calls.next();
  honours.signal.addEventListener("abort", () => honours.reject(honours.signal.reason));
  h.stop.abort();
  h.clock.advance(1000);
  await within(h.run, "shutdown at the deadline even though one reconcile ignores its signal");
  assert.equal((honours.signal.reason as DOMException).name, "AbortError");
  assert.equal(ignores.signal.aborted, true);
  ignores.resolve({ requeueAfter: 1 }); // too late: ignored
  await settle();
  assert.equal(h.errors.buffered, 0, "abandoned outcomes are not reported");
});

test("controller: an already-aborted signal stops at once; a queue shut down elsewhere drains then stops", async () => {
  const stop = new AbortController();
  stop.abort();
  const queue = createRateLimitedQueue({ clock: new ManualClock() });
  queue.add("a");
  let reconciled = 0;
  await within(runWorkers({ queue, signal: stop.signal, reconcile: async () => void reconciled++, clock: new ManualClock() }), "an immediate stop");
  assert.equal(reconciled, 0);
  assert.equal(queue.shuttingDown(), true);

  const h = harness({ workers: 2 });
  for (const key of ["a", "b", "c"]) h.queue.add(key);
  h.queue.shutDown();
  for (let i = 0; i < 3; i++) (await h.calls.next()).resolve();
  await within(h.run, "the workers to stop once the queue is empty");
  assert.equal(h.stats.total, 3);
});

test("controller: rejects bad options", async () => {
  const queue: RateLimitedQueue = createRateLimitedQueue({ clock: systemClock });
  const base = { queue, signal: new AbortController().signal, reconcile: async () => {} };
  await assert.rejects(runWorkers({ ...base, workers: 0 }), RangeError);
  await assert.rejects(runWorkers({ ...base, workers: 1.5 }), RangeError);
  await assert.rejects(runWorkers({ ...base, shutdownGraceMs: -1 }), RangeError);
  await assert.rejects(runWorkers({ ...base, reconcileTimeoutMs: 0 }), RangeError);
  assert.equal(queue.shuttingDown(), false, "a rejected call does not touch the queue");
});
