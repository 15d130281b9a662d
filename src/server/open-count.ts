// How many of something (open watches) each key (a user, a client address)
// holds. A place taken is given back once, however often its release runs.
// Invariant: every key in the map has a count of at least 1.

/** Open places by key; the caps are the callers' (src/server/limits.ts, src/server/watch-limit.ts). */
export class OpenCount {
  readonly #open = new Map<string, number>();

  /** Places `key` holds now. */
  of(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /** Places all keys hold together. */
  total(): number {
    let n = 0;
    for (const c of this.#open.values()) n += c;
    return n;
  }

  /** Takes one more place for `key`; returns the function that gives it back (idempotent). */
  take(key: string): () => void {
    this.#open.set(key, this.of(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.of(key) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }
}
