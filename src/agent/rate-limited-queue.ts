// The rate-limited queue: a delaying queue that asks a rate limiter how long a
// key should wait before it is retried, like client-go's
// `RateLimitingInterface`.
//
// - `addRateLimited(key)` records a retry with the limiter and adds the key
//   after the wait it returns (through `addAfter`, so an earlier pending
//   deadline for the key still wins).
// - `forget(key)` clears the key's retry history in the limiter; it does not
//   remove the key from the queue. Call it when the key succeeds.
// - After shutdown `addRateLimited` is ignored and does not touch the limiter.

import { systemClock, type Clock } from "../clock.ts";
import { createDelayingQueue, type DelayingQueue } from "./delaying-queue.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "./rate-limiter.ts";
import { createWorkQueue, type QueueItem, type WorkQueue } from "./workqueue.ts";

/** A delaying queue whose retries are spaced by a rate limiter. */
export interface RateLimitedQueue<K extends string = string> extends DelayingQueue<K> {
  /** Adds `key` after the wait the rate limiter gives for its next retry. */
  addRateLimited(key: K): void;
  /** Clears the retry history of `key` (it stays queued if it is). */
  forget(key: K): void;
  /** Retries of `key` since it was last forgotten. */
  numRequeues(key: K): number;
}

export interface RateLimitedQueueOptions<K extends string = string> {
  /** Spacing of retries. Default `defaultControllerRateLimiter({ clock })`. */
  rateLimiter?: RateLimiter;
  /** Time source for delays (and for the default limiter). Default `systemClock`. */
  clock?: Clock;
  /** The queue to add to. Default a new `createWorkQueue()`. */
  queue?: WorkQueue<K>;
}

/**
 * Creates a rate-limited queue.
 * @example
 * const queue = createRateLimitedQueue({ clock });
 * queue.addRateLimited("default/web"); // after max(5 ms backoff, bucket wait)
 */
export function createRateLimitedQueue<K extends string = string>(options: RateLimitedQueueOptions<K> = {}): RateLimitedQueue<K> {
  const clock = options.clock ?? systemClock;
  const limiter = options.rateLimiter ?? defaultControllerRateLimiter({ clock });
  const delaying = createDelayingQueue<K>({ clock, queue: options.queue ?? createWorkQueue<K>() });
  return new RateLimited(delaying, limiter);
}

class RateLimited<K extends string> implements RateLimitedQueue<K> {
  readonly #queue: DelayingQueue<K>;
  readonly #limiter: RateLimiter;

  constructor(queue: DelayingQueue<K>, limiter: RateLimiter) {
    this.#queue = queue;
    this.#limiter = limiter;
  }

  addRateLimited(key: K): void {
    if (this.#queue.shuttingDown()) return;
    this.#queue.addAfter(key, this.#limiter.when(key));
  }

  forget(key: K): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.#limiter.numRequeues(key);
  }

  addAfter(key: K, ms: number): void {
    this.#queue.addAfter(key, ms);
  }

  add(key: K): void {
    this.#queue.add(key);
  }

  len(): number {
    return this.#queue.len();
  }

  get(): Promise<QueueItem<K>> {
    return this.#queue.get();
  }

  done(key: K): void {
    this.#queue.done(key);
  }

  shutDown(): void {
    this.#queue.shutDown();
  }

  shutDownWithDrain(): Promise<void> {
    return this.#queue.shutDownWithDrain();
  }

  shuttingDown(): boolean {
    return this.#queue.shuttingDown();
  }
}
