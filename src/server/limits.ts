// Request limits (API.md §8), as kube-apiserver's max-in-flight filter has
// them: at most `maxRequestsInflight` read requests and
// `maxMutatingRequestsInflight` writes at once; past them a request is
// refused at once with 429 TooManyRequests and `Retry-After: 1` (gRPC
// RESOURCE_EXHAUSTED), never queued. Watches are long-running and do not
// count; instead each user may hold at most `maxWatchesPerUser` watches open
// at once (all transports together), so one client cannot hold the server's
// memory. A limit of 0 turns that limit off. Members of `system:masters` are
// exempt from the in-flight limits (as in kube), not from the watch cap.
//
// A request still receiving its body holds its slot but is not counted
// against the limit: it does no work yet, and a client that sends its body a
// byte a second (slowloris) would otherwise hold a slot until node's
// requestTimeout (5 minutes). 200 such connections refused every other
// client's writes with 429 for as long as they trickled. Once its body is in,
// the request counts again and is refused (429) if that puts its kind over
// the limit. What bounds the bodies being received instead is their bytes:
// at most `maxMutatingRequestsInflight` MiB together (200 MiB by default;
// none with no limit); a request whose body would pass that gets 429.

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

function tooMany(): TooManyRequestsError {
  return new TooManyRequestsError("Too many requests, please try again later.");
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

/** A request's body being received (Limits.receiving): tell it each chunk and the end. */
export interface BodyReceipt {
  /** Counts `bytes` more; a TooManyRequestsError when the bodies being received would pass their bound (the receipt is then ended). */
  add(bytes: number): TooManyRequestsError | undefined;
  /** The body is in (or abandoned): the request counts again; a TooManyRequestsError if that puts its kind over the limit. Idempotent. */
  end(): TooManyRequestsError | undefined;
}

/** Where the HTTP gate leaves an admitted request's receiving(): the body reader (src/server/rest.ts) calls it. */
export const RECEIVE_BODY = Symbol("setpoint.receiveBody");

/** Bytes of bodies being received at once, per write slot of the limit. */
const BODY_BYTES_PER_WRITE_SLOT = 1024 * 1024;

/** Counts requests and watches in flight; every acquire that succeeds returns its release (idempotent). */
export class Limits {
  readonly #max: { read: number; write: number; watches: number };
  /** Admitted and not done, receiving their body or not; `#receiving` of them are receiving it. */
  #inflight = { read: 0, write: 0 };
  #receiving = { read: 0, write: 0 };
  #receivingBytes = 0;
  readonly #maxReceivingBytes: number;
  readonly #watches = new OpenCount();

  constructor(options: LimitsOptions = {}) {
    this.#max = {
      read: options.maxRequestsInflight ?? 400,
      write: options.maxMutatingRequestsInflight ?? 200,
      watches: options.maxWatchesPerUser ?? 1000,
    };
    this.#maxReceivingBytes = this.#max.write * BODY_BYTES_PER_WRITE_SLOT;
  }

  /** Takes an in-flight slot; throws TooManyRequestsError when none is free. */
  request(mutating: boolean): () => void {
    const kind = mutating ? "write" : "read";
    const max = this.#max[kind];
    if (max > 0 && this.#inflight[kind] - this.#receiving[kind] >= max) throw tooMany();
    this.#inflight[kind]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inflight[kind]--;
    };
  }

  /**
   * Starts receiving the body of a request admitted by request(`mutating`):
   * until the receipt ends it does not count against the limit.
   */
  receiving(mutating: boolean): BodyReceipt {
    const kind = mutating ? "write" : "read";
    this.#receiving[kind]++;
    let bytes = 0;
    let ended = false;
    const end = (): TooManyRequestsError | undefined => {
      if (ended) return undefined;
      ended = true;
      this.#receiving[kind]--;
      this.#receivingBytes -= bytes;
      const max = this.#max[kind];
      return max > 0 && this.#inflight[kind] - this.#receiving[kind] > max ? tooMany() : undefined;
    };
    return {
      add: (n) => {
        if (ended) return undefined;
        bytes += n;
        this.#receivingBytes += n;
        if (this.#maxReceivingBytes === 0 || this.#receivingBytes <= this.#maxReceivingBytes) return undefined;
        // A body alone is bounded by the body size limit (MAX_BODY_BYTES, 3 MiB), which may be above this bound
        // (--max-mutating-requests-inflight 1 or 2): only bodies arriving beside others are refused here.
        if (this.#receivingBytes === bytes) return undefined;
        end();
        return new TooManyRequestsError(
          `Too many requests, please try again later: request bodies being received at once passed ${this.#maxReceivingBytes / BODY_BYTES_PER_WRITE_SLOT} MiB`,
        );
      },
      end,
    };
  }

  /** Counts one more open watch for `user`; throws TooManyRequestsError past the cap. */
  watch(user: string): () => void {
    const max = this.#max.watches;
    if (max > 0 && this.#watches.of(user) >= max)
      throw new TooManyRequestsError(`too many watches open for user ${JSON.stringify(user)}: at most ${max}; close some or retry later`);
    return this.#watches.take(user);
  }

  /** Admitted requests receiving their body now (counted in stats() too), and their bytes so far. */
  receivingStats(): { requests: number; bytes: number } {
    return { requests: this.#receiving.read + this.#receiving.write, bytes: this.#receivingBytes };
  }

  /** Requests and watches in flight now. */
  stats(): { read: number; write: number; watches: number } {
    return { ...this.#inflight, watches: this.#watches.total() };
  }
}
