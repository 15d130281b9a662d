// A node:test reporter for scripts/test.mjs: writes one JSON summary of a test
// file's run (counts, and every test's duration) to its destination, so the
// runner can total the files and print the slowest files and tests.

export default async function* summary(source) {
  const counts = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  const tests = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { name, nesting, details, skip, todo } = event.data;
    if (details?.type === "suite") {
      counts.suites++;
      continue;
    }
    counts.tests++;
    if (skip !== undefined) counts.skipped++;
    else if (todo !== undefined) counts.todo++;
    else if (event.type === "test:pass") counts.pass++;
    else if (details?.error?.failureType === "cancelledByParent") counts.cancelled++;
    else counts.fail++;
    tests.push({ name, nesting, ms: details?.duration_ms ?? 0 });
  }
  yield `${JSON.stringify({ counts, tests })}\n`;
}
