// A deadline on a promise a test waits for: it fails naming what it waited
// for instead of hanging the test. A deadline, not a sleep.

/** `p`, or a rejection naming `what` once `ms` of real time have passed. */
export async function within<T>(p: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
