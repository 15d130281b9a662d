// The work queue: a FIFO of keys to reconcile, in the manner of client-go's
// `workqueue.Interface`.
//
// - Deduplication: a key waits in the queue at most once, however many times
//   it is added before a worker takes it.
// - Exclusion: a key handed out by `get()` is "processing" until `done(key)`;
//   `get()` never hands out a key that is processing, so no two workers hold
//   the same key at once.
// - No lost updates: a key added while it is processing is marked dirty and
//   queued again when `done(key)` is called; however many adds arrive during
//   one processing, they lead to one more pass.
// - Order: keys are handed out in the order they were first queued; waiting
//   `get()` calls are served in the order they were made.
// - Shutdown: after `shutDown()` adds are ignored, `get()` still hands out the
//   keys already queued (and dirty keys re-queued by `done`), then resolves
//   with `shutdown: true` to every caller, now and later.

/** What `get()` resolves with: a key to process, or the end of the queue. */
export type QueueItem<K extends string = string> = { key: K; shutdown: false } | { key: undefined; shutdown: true };

/** A deduplicating FIFO of keys with per-key exclusion; see the file header. */
export interface WorkQueue<K extends string = string> {
  /** Queues `key` unless it is already waiting; marks it dirty if it is processing. Ignored after shutdown. */
  add(key: K): void;
  /** Number of keys waiting (not counting those being processed). */
  len(): number;
  /** Waits for a key and marks it processing; resolves `{ shutdown: true }` once shut down and empty. */
  get(): Promise<QueueItem<K>>;
  /** Ends the processing of `key`; re-queues it if it was added meanwhile. No-op if not processing. */
  done(key: K): void;
  /** Stops accepting keys and releases waiting `get()` calls once the queue is empty. */
  shutDown(): void;
  /** Like `shutDown()`, then resolves once no key is waiting or processing. */
  shutDownWithDrain(): Promise<void>;
  /** Whether `shutDown()` or `shutDownWithDrain()` has been called. */
  shuttingDown(): boolean;
}

/** Creates an empty work queue. */
export function createWorkQueue<K extends string = string>(): WorkQueue<K> {
  return new Queue<K>();
}

class Queue<K extends string> implements WorkQueue<K> {
  /** Keys waiting, in order, from index `#head`. Every key here is in `#dirty` and not in `#processing`, and appears once. */
  #queue: K[] = [];
  #head = 0;
  /** Keys that need processing: every waiting key, plus processing keys added again since `get()` handed them out. */
  #dirty = new Set<K>();
  /** Keys handed out by `get()` and not yet `done()`. */
  #processing = new Set<K>();
  /** Callers blocked in `get()`, oldest first. Non-empty only while the queue is empty and not shutting down. */
  #getters: Array<(item: QueueItem<K>) => void> = [];
  /** Callers of `shutDownWithDrain()` waiting for the queue and `#processing` to empty. */
  #drainers: Array<() => void> = [];
  #shuttingDown = false;

  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#enqueue(key);
  }

  len(): number {
    return this.#queue.length - this.#head;
  }

  get(): Promise<QueueItem<K>> {
    if (this.len() > 0) return Promise.resolve({ key: this.#take(), shutdown: false });
    if (this.#shuttingDown) return Promise.resolve({ key: undefined, shutdown: true });
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  done(key: K): void {
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key)) this.#enqueue(key);
    else this.#checkDrained();
  }

  shutDown(): void {
    this.#shuttingDown = true;
    // Getters wait only while the queue is empty, so they can be told now.
    const getters = this.#getters;
    this.#getters = [];
    for (const resolve of getters) resolve({ key: undefined, shutdown: true });
  }

  shutDownWithDrain(): Promise<void> {
    this.shutDown();
    return new Promise((resolve) => {
      this.#drainers.push(resolve);
      this.#checkDrained();
    });
  }

  shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Appends `key` (dirty, not processing, not waiting), handing it straight to a blocked getter if there is one. */
  #enqueue(key: K): void {
    this.#queue.push(key);
    const getter = this.#getters.shift();
    if (getter) getter({ key: this.#take(), shutdown: false });
  }

  /** Removes the oldest waiting key and marks it processing. */
  #take(): K {
    const key = this.#queue[this.#head] as K;
    this.#head++;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#dirty.delete(key);
    this.#processing.add(key);
    return key;
  }

  #checkDrained(): void {
    if (this.#drainers.length === 0 || this.len() > 0 || this.#processing.size > 0) return;
    const drainers = this.#drainers;
    this.#drainers = [];
    for (const resolve of drainers) resolve();
  }
}
