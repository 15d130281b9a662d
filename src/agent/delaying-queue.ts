// The delaying queue: a work queue that can also add a key later, like
// client-go's `DelayingInterface`.
//
// - `addAfter(key, ms)` adds the key to the underlying queue once `ms` have
//   passed on the injected clock; `ms <= 0` adds it at once.
// - A key waits for at most one deadline: an earlier deadline for the same key
//   replaces a later one, a later one is ignored.
// - Delayed adds go through `add()`, so they are deduplicated and respect
//   processing like any other add.
// - Shutdown cancels every pending delayed add; `addAfter` is then ignored.

import { systemClock, type Clock, type Timer } from "../clock.ts";
import { createWorkQueue, type QueueItem, type WorkQueue } from "./workqueue.ts";

/** A work queue that can also add a key after a delay. */
export interface DelayingQueue<K extends string = string> extends WorkQueue<K> {
  /** Adds `key` once `ms` have passed; an earlier pending deadline for the key wins. */
  addAfter(key: K, ms: number): void;
}

export interface DelayingQueueOptions<K extends string = string> {
  /** Time source for delays. Default `systemClock`. */
  clock?: Clock;
  /** The queue to add to. Default a new `createWorkQueue()`. */
  queue?: WorkQueue<K>;
}

/** Creates a delaying queue over `options.queue` (default a new work queue). */
export function createDelayingQueue<K extends string = string>(options: DelayingQueueOptions<K> = {}): DelayingQueue<K> {
  return new Delaying(options.queue ?? createWorkQueue<K>(), options.clock ?? systemClock);
}

class Delaying<K extends string> implements DelayingQueue<K> {
  readonly #queue: WorkQueue<K>;
  readonly #clock: Clock;
  /** Pending delayed adds, one per key: the earliest deadline asked for and its timer. Empty once shutting down. */
  #waiting = new Map<K, { at: number; timer: Timer }>();

  constructor(queue: WorkQueue<K>, clock: Clock) {
    this.#queue = queue;
    this.#clock = clock;
  }

  addAfter(key: K, ms: number): void {
    if (this.#queue.shuttingDown()) return;
    if (!(ms > 0)) {
      this.#queue.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#waiting.get(key);
    if (pending) {
      if (pending.at <= at) return;
      pending.timer.cancel();
    }
    const timer = this.#clock.after(ms, () => {
      this.#waiting.delete(key);
      this.#queue.add(key);
    });
    this.#waiting.set(key, { at, timer });
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
    this.#cancelWaiting();
    this.#queue.shutDown();
  }

  shutDownWithDrain(): Promise<void> {
    this.#cancelWaiting();
    return this.#queue.shutDownWithDrain();
  }

  shuttingDown(): boolean {
    return this.#queue.shuttingDown();
  }

  #cancelWaiting(): void {
    for (const { timer } of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
  }
}
