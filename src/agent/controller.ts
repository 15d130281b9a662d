// The reconcile loop: a bounded number of workers drain a rate-limited queue,
// calling `reconcile(key)` for each key, like a client-go controller's
// `processNextWorkItem` loop.
//
// - At most `workers` reconciles run at once, and never two for the same key
//   (the queue hands a key to one worker until it is done).
// - Outcome: a reconcile that throws (or rejects) is reported to `onError`
//   and retried with the queue's rate limiter (backoff); one that succeeds
//   clears the key's backoff and, if it returns `requeueAfter`, is added again
//   after that many ms.
// - Each reconcile gets its own AbortSignal. It fires after
//   `reconcileTimeoutMs` (if set; reason a "TimeoutError" DOMException) and at
//   the end of the shutdown grace period (reason an "AbortError"). A reconcile
//   that hangs holds one worker; the others go on.
// - Shutdown, when `signal` aborts: the queue is shut down, workers take no
//   more keys, running reconciles get `shutdownGraceMs` to finish (their
//   outcomes still count), then their signals fire and they are abandoned:
//   whatever they do afterwards is ignored. If the queue is shut down by
//   someone else, workers finish the keys still queued and stop.
// - `runWorkers` resolves once every worker has stopped.

import { systemClock, type Clock, type Timer } from "../clock.ts";
import type { RateLimitedQueue } from "./rate-limited-queue.ts";

/** What a reconcile is given besides its key. */
export interface ReconcileContext {
  /** Fires on the per-reconcile timeout or at the end of the shutdown grace period. */
  signal: AbortSignal;
}

/** What a successful reconcile may ask for. */
export interface ReconcileResult {
  /** Reconcile the key again after this many ms (`<= 0`: at once). */
  requeueAfter?: number;
}

/** Brings the object named by `key` to its desired state; throws to be retried with backoff. */
export type Reconciler<K extends string = string> = (key: K, ctx: ReconcileContext) => Promise<ReconcileResult | void>;

export interface RunWorkersOptions<K extends string = string> {
  /** Where keys come from; shut down by `runWorkers` when `signal` aborts. */
  queue: RateLimitedQueue<K>;
  reconcile: Reconciler<K>;
  /** Aborting it starts a graceful shutdown. */
  signal: AbortSignal;
  /** Most reconciles running at once. Default 1. */
  workers?: number;
  /** Time running reconciles get to finish after `signal` aborts. Default 30000 ms. */
  shutdownGraceMs?: number;
  /** Time after which a reconcile's signal fires. Default none. */
  reconcileTimeoutMs?: number;
  /** Time source for the grace period and timeouts. Default `systemClock`. */
  clock?: Clock;
  /** Told of each reconcile that throws, before the key is retried. Default: ignore. */
  onError?: (key: K, error: unknown) => void;
}

type Outcome = { ok: true; result: ReconcileResult | void } | { ok: false; error: unknown };

/**
 * Runs reconcile workers over `queue` until `signal` aborts (or the queue shuts down and empties).
 * @example
 * const queue = createRateLimitedQueue();
 * const stop = new AbortController();
 * const done = runWorkers({ queue, workers: 4, signal: stop.signal, reconcile: async (key, { signal }) => {
 *   const obj = await client.get(key, { signal });
 *   // … act, write status …
 * } });
 * stop.abort(); await done;
 */
export async function runWorkers<K extends string = string>(options: RunWorkersOptions<K>): Promise<void> {
  const { queue, reconcile, signal } = options;
  const workers = options.workers ?? 1;
  const graceMs = options.shutdownGraceMs ?? 30_000;
  const timeoutMs = options.reconcileTimeoutMs;
  const clock = options.clock ?? systemClock;
  const onError = options.onError ?? (() => {});
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`controller: workers must be an integer >= 1, got ${workers}`);
  if (!(graceMs >= 0)) throw new RangeError(`controller: shutdownGraceMs must be >= 0, got ${graceMs}`);
  if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new RangeError(`controller: reconcileTimeoutMs must be > 0, got ${timeoutMs}`);

  /** Running reconciles: each one's controller, and how to stop waiting for it. Entries leave when they settle or are abandoned. */
  const running = new Set<{ controller: AbortController; abandon: () => void }>();
  let graceTimer: Timer | undefined;

  const onAbort = (): void => {
    queue.shutDown();
    graceTimer = clock.after(graceMs, () => {
      const reason = new DOMException(`controller: shutdown grace period of ${graceMs} ms is over`, "AbortError");
      for (const entry of running) {
        entry.controller.abort(reason);
        entry.abandon();
      }
    });
  };

  /**
   * A reconcile's AbortController, its signal already made. A worker makes
   * the next one before it waits for a key: making an AbortSignal costs
   * 13-15 µs after the process has been idle a millisecond (Node 20), which
   * then lies between a key's arrival and its reconcile.
   */
  const nextController = (): AbortController => {
    const controller = new AbortController();
    void controller.signal;
    return controller;
  };

  /** Reconciles `key` with `controller` and settles its outcome with the queue; false if abandoned at the end of the grace period. */
  const reconcileOne = async (key: K, controller: AbortController): Promise<boolean> => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : clock.after(timeoutMs, () =>
            controller.abort(new DOMException(`controller: reconcile of ${JSON.stringify(key)} timed out after ${timeoutMs} ms`, "TimeoutError")),
          );
    let entry!: { controller: AbortController; abandon: () => void };
    const settled = await new Promise<Outcome | undefined>((resolve) => {
      entry = { controller, abandon: () => resolve(undefined) };
      running.add(entry);
      Promise.resolve()
        .then(() => reconcile(key, { signal: controller.signal }))
        .then(
          (result) => resolve({ ok: true, result }),
          (error: unknown) => resolve({ ok: false, error }),
        );
    });
    timer?.cancel();
    running.delete(entry);
    if (settled === undefined) return false;
    if (settled.ok) {
      queue.forget(key);
      const after = settled.result?.requeueAfter;
      if (after !== undefined) queue.addAfter(key, after);
    } else {
      try {
        onError(key, settled.error);
      } catch {
        // A failing error handler must not stop the worker.
      }
      queue.addRateLimited(key);
    }
    queue.done(key);
    return true;
  };

  const worker = async (): Promise<void> => {
    while (!signal.aborted) {
      const controller = nextController();
      const item = await queue.get();
      if (item.shutdown) return;
      if (signal.aborted) {
        queue.done(item.key);
        return;
      }
      if (!(await reconcileOne(item.key, controller))) return;
    }
  };

  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    signal.removeEventListener("abort", onAbort);
    graceTimer?.cancel();
  }
}
