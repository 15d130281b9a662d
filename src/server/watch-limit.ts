// A cap on the watches one client holds open at once over WebSocket and
// chunked HTTP, counted by remote address, so one client that opens thousands
// of connections cannot take the server's sockets and memory from the rest.
// Past the cap a new watch is refused with 429 TooManyRequests; an open one
// frees its place when it ends, however it ends. Behind a proxy every client
// has the proxy's address: raise the cap (or set 0, no cap) there.

import { ApiError } from "../errors.ts";
import { OpenCount } from "./open-count.ts";

/** Counts open watches by client address. */
export class WatchLimit {
  readonly #max: number;
  readonly #open = new OpenCount();

  /** `max` watches per client address; 0 for no cap. */
  constructor(max: number) {
    if (!(Number.isInteger(max) && max >= 0)) throw new RangeError(`watch limit: max must be a whole number, 0 or more, got ${max}`);
    this.#max = max;
  }

  /**
   * Counts one more watch of `client`; returns the function that releases it
   * (idempotent). Throws TooManyRequests past the cap.
   */
  acquire(client: string | undefined): () => void {
    const key = client ?? "unknown";
    if (this.#max > 0 && this.#open.of(key) >= this.#max) {
      throw new ApiError("TooManyRequests", `too many open watches from ${key}: at most ${this.#max} per client (--max-watches-per-client); close some first`);
    }
    return this.#open.take(key);
  }

  /** Open watches of `client`. */
  count(client: string): number {
    return this.#open.of(client);
  }
}
