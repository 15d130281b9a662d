// What the seeded tests (test/server/fuzz.test.ts, fuzz-wire.test.ts, the store contract, wal.test.ts)
// share: a small seedable PRNG, so that a failure reproduces from its seed,
// and a runner that keeps a fixed number of cases in flight.

/** mulberry32: a small, fast, seedable PRNG. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    let x = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** `length` characters drawn from `alphabet` (whole code points). */
  string(length: number, alphabet: string): string {
    const chars = [...alphabet];
    let s = "";
    for (let i = 0; i < length; i++) s += this.pick(chars);
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255);
    return b;
  }
}

/** `Rng`'s numbers as a plain function, for code that takes `() => number`. */
export function prng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/** Runs `count` jobs, `parallel` at a time. */
export async function pool(count: number, parallel: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await job(next++);
    }),
  );
}
