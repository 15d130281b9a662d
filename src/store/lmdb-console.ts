// lmdb-js prints the error of a failed commit with console.error (from its
// write thread's callback, error and stack) and then rejects the commit with
// that same error object. The LMDB store answers, logs once and counts every
// failed commit itself, so that print would log each failure twice. This
// holds back console.error calls whose only argument is an Error with a
// numeric code (LMDB's errors carry an errno or MDB_* code) for a moment: if
// a store claims the error as a commit's cause meanwhile it is dropped, else
// it is printed as it was. (LMDB's C code also writes a one-line
// `Write error: …` to stderr on a failed write; that cannot be held back.)

const HOLD_MS = 100;
const claimed = new WeakSet<object>();
let installed = false;

/** Says that `error`, a failed commit's cause, is reported by the store: lmdb-js's own print of it is dropped. */
export function claimCommitError(error: unknown): void {
  if (typeof error === "object" && error !== null) claimed.add(error);
}

/** Installs the hold on console.error (once per process). */
export function holdLmdbCommitErrors(): void {
  if (installed) return;
  installed = true;
  const print = console.error;
  console.error = (...args: unknown[]) => {
    const first = args[0];
    if (args.length === 1 && first instanceof Error && typeof (first as { code?: unknown }).code === "number") {
      setTimeout(() => {
        if (!claimed.has(first)) print.apply(console, args);
      }, HOLD_MS);
      return;
    }
    print.apply(console, args);
  };
}
