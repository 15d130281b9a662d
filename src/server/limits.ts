// Request limits (API.md §8), as kube-apiserver's max-in-flight filter has
// them: at most `maxRequestsInflight` read requests and
// `maxMutatingRequestsInflight` writes at once; past them a request is
// refused at once with 429 TooManyRequests and `Retry-After: 1` (gRPC
// RESOURCE_EXHAUSTED), never queued. Watches are long-running and do not
// count; instead each user may hold at most `maxWatchesPerUser` watches open
// at once (all transports together), so one client cannot hold the server's
// memory. A limit of 0 turns that limit off. Members of `system:masters` are
// exempt from the in-flight limits (as in kube), not from the watch cap.

import { ApiError } from "../errors.ts";
import { OpenCount } from "./open-count.ts";

export interface LimitsOptions {
  /** Read requests in flight at once; 0 = unlimited. Default 400. */
  maxRequestsInflight?: number;
  /** Writes in flight at once; 0 = unlimited. Default 200. */
  maxMutatingRequestsInflight?: number;
  /** Watches one user may hold open at once; 0 = unlimited. Default 1000. */
  maxWatchesPerUser?: number;
}

/** Seconds a refused client is told to wait (kube sends 1). */
export const RETRY_AFTER_SECONDS = 1;

/** 429 TooManyRequests with the Retry-After a transport should send. */
export class TooManyRequestsError extends ApiError {
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;
  constructor(message: string) {
    super("TooManyRequests", message);
  }
}

/** Counts requests and watches in flight; every acquire that succeeds returns its release (idempotent). */
export class Limits {
  readonly #max: { read: number; write: number; watches: number };
  #inflight = { read: 0, write: 0 };
  readonly #watches = new OpenCount();

  constructor(options: LimitsOptions = {}) {
    this.#max = {
      read: options.maxRequestsInflight ?? 400,
      write: options.maxMutatingRequestsInflight ?? 200,
      watches: options.maxWatchesPerUser ?? 1000,
    };
  }

  /** Takes an in-flight slot; throws TooManyRequestsError when none is free. */
  request(mutating: boolean): () => void {
    const kind = mutating ? "write" : "read";
    const max = this.#max[kind];
    if (max > 0 && this.#inflight[kind] >= max) throw new TooManyRequestsError("Too many requests, please try again later.");
    this.#inflight[kind]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inflight[kind]--;
    };
  }

  /** Counts one more open watch for `user`; throws TooManyRequestsError past the cap. */
  watch(user: string): () => void {
    const max = this.#max.watches;
    if (max > 0 && this.#watches.of(user) >= max)
      throw new TooManyRequestsError(`too many watches open for user ${JSON.stringify(user)}: at most ${max}; close some or retry later`);
    return this.#watches.take(user);
  }

  /** Requests and watches in flight now. */
  stats(): { read: number; write: number; watches: number } {
    return { ...this.#inflight, watches: this.#watches.total() };
  }
}
