import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { createWorkQueue, type QueueItem } from "../../src/agent/workqueue.ts";
import { createDelayingQueue } from "../../src/agent/delaying-queue.ts";
import { createRateLimitedQueue } from "../../src/agent/rate-limited-queue.ts";
import { exponentialFailureRateLimiter } from "../../src/agent/rate-limiter.ts";

/** Lets every pending promise chain run (nothing here waits on real timers or I/O). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Tracks whether a promise has resolved, without awaiting it. */
function watch<T>(p: Promise<T>): { readonly value: T | undefined; readonly resolved: boolean } {
  const state = { value: undefined as T | undefined, resolved: false };
  void p.then((v) => {
    state.value = v;
    state.resolved = true;
  });
  return state;
}

async function key(p: Promise<QueueItem>): Promise<string | undefined> {
  const item = await p;
  assert.equal(item.shutdown, false, "expected a key, got shutdown");
  return item.key;
}

test("workqueue: hands out keys in first-added order, each waiting key once", async () => {
  const q = createWorkQueue();
  q.add("a");
  q.add("b");
  q.add("a");
  q.add("c");
  q.add("b");
  assert.equal(q.len(), 3);
  assert.equal(await key(q.get()), "a");
  assert.equal(await key(q.get()), "b");
  assert.equal(await key(q.get()), "c");
  assert.equal(q.len(), 0);
});

test("workqueue: get waits for an add; waiting getters are served in order", async () => {
  const q = createWorkQueue();
  const first = watch(q.get());
  const second = watch(q.get());
  await settle();
  assert.equal(first.resolved, false);
  q.add("x");
  await settle();
  assert.deepEqual(first.value, { key: "x", shutdown: false });
  assert.equal(second.resolved, false);
  q.add("y");
  await settle();
  assert.deepEqual(second.value, { key: "y", shutdown: false });
  assert.equal(q.len(), 0);
});

test("workqueue: a key added while processing is not handed out until done, then once", async () => {
  const q = createWorkQueue();
  q.add("a");
  assert.equal(await key(q.get()), "a");
  for (let i = 0; i < 100; i++) q.add("a");
  assert.equal(q.len(), 0, "a processing key does not wait in the queue");
  const other = watch(q.get());
  await settle();
  assert.equal(other.resolved, false, "a second worker must not get a key that is processing");
  q.done("a");
  await settle();
  assert.deepEqual(other.value, { key: "a", shutdown: false }, "done re-queues the dirty key");
  q.done("a");
  assert.equal(q.len(), 0, "100 adds during one processing lead to exactly one more pass");
  const idle = watch(q.get());
  await settle();
  assert.equal(idle.resolved, false);
  q.shutDown();
  await settle();
  assert.deepEqual(idle.value, { key: undefined, shutdown: true });
});

test("workqueue: done without a new add does not re-queue; done of an unknown key is a no-op", async () => {
  const q = createWorkQueue();
  q.add("a");
  await q.get();
  q.done("a");
  q.done("a");
  q.done("never");
  assert.equal(q.len(), 0);
  q.add("a");
  assert.equal(q.len(), 1, "a key can be added again once done");
});

test("workqueue: shutDown ignores adds, hands out what is queued, then reports shutdown", async () => {
  const q = createWorkQueue();
  q.add("a");
  q.add("b");
  assert.equal(await key(q.get()), "a");
  q.add("a"); // dirty while processing, before shutdown
  q.shutDown();
  assert.equal(q.shuttingDown(), true);
  q.add("c");
  assert.equal(q.len(), 1);
  assert.equal(await key(q.get()), "b");
  q.done("b");
  q.done("a"); // the dirty key still gets its pass
  assert.equal(await key(q.get()), "a");
  q.done("a");
  assert.deepEqual(await q.get(), { key: undefined, shutdown: true });
  assert.deepEqual(await q.get(), { key: undefined, shutdown: true });
});

test("workqueue: shutDown releases every waiting getter", async () => {
  const q = createWorkQueue();
  const getters = [q.get(), q.get(), q.get()];
  q.shutDown();
  for (const item of await Promise.all(getters)) assert.deepEqual(item, { key: undefined, shutdown: true });
});

test("workqueue: shutDownWithDrain resolves once nothing is queued or processing", async () => {
  const q = createWorkQueue();
  q.add("a");
  q.add("b");
  assert.equal(await key(q.get()), "a");
  const drained = watch(q.shutDownWithDrain());
  await settle();
  assert.equal(drained.resolved, false);
  assert.equal(await key(q.get()), "b");
  q.done("a");
  await settle();
  assert.equal(drained.resolved, false, "b is still processing");
  q.done("b");
  await settle();
  assert.equal(drained.resolved, true);
  await createWorkQueue().shutDownWithDrain(); // an empty queue drains at once
});

test("delaying queue: addAfter adds on the injected clock; an earlier deadline wins", async () => {
  const clock = new ManualClock(1000);
  const q = createDelayingQueue({ clock });
  q.addAfter("a", 100);
  q.addAfter("a", 50); // earlier: replaces
  q.addAfter("a", 80); // later: ignored
  q.addAfter("b", 0); // now
  assert.equal(q.len(), 1);
  assert.equal(await key(q.get()), "b");
  clock.advance(49);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.equal(q.len(), 1);
  assert.equal(await key(q.get()), "a");
  q.done("a");
  clock.advance(100);
  assert.equal(q.len(), 0, "the replaced and ignored deadlines never fire");
});

test("delaying queue: a delayed add of a processing key re-queues it on done", async () => {
  const clock = new ManualClock();
  const q = createDelayingQueue({ clock });
  q.add("a");
  assert.equal(await key(q.get()), "a");
  q.addAfter("a", 10);
  clock.advance(10);
  assert.equal(q.len(), 0);
  q.done("a");
  assert.equal(q.len(), 1);
});

test("delaying queue: shutDown cancels pending delayed adds and ignores new ones", async () => {
  const clock = new ManualClock();
  const q = createDelayingQueue({ clock });
  q.addAfter("a", 10);
  q.shutDown();
  q.addAfter("b", 0);
  clock.advance(100);
  assert.equal(q.len(), 0);
  assert.deepEqual(await q.get(), { key: undefined, shutdown: true });
});

test("rate-limited queue: addRateLimited waits the limiter's backoff; forget resets it", async () => {
  const clock = new ManualClock();
  const q = createRateLimitedQueue({ clock, rateLimiter: exponentialFailureRateLimiter({ baseDelayMs: 5 }) });
  const expectAfter = async (ms: number) => {
    q.addRateLimited("a");
    clock.advance(ms - 1);
    assert.equal(q.len(), 0, `not before ${ms} ms`);
    clock.advance(1);
    assert.equal(q.len(), 1, `after ${ms} ms`);
    assert.equal(await key(q.get()), "a");
    q.done("a");
  };
  await expectAfter(5);
  await expectAfter(10);
  await expectAfter(20);
  assert.equal(q.numRequeues("a"), 3);
  q.forget("a");
  assert.equal(q.numRequeues("a"), 0);
  await expectAfter(5);
});

test("rate-limited queue: the default limiter backs off from 5 ms; shutdown ignores addRateLimited", () => {
  const clock = new ManualClock();
  const q = createRateLimitedQueue({ clock });
  q.addRateLimited("a");
  clock.advance(4);
  assert.equal(q.len(), 0);
  clock.advance(1);
  assert.equal(q.len(), 1);
  q.shutDown();
  q.addRateLimited("b");
  assert.equal(q.numRequeues("b"), 0, "the limiter is not consulted after shutdown");
});
