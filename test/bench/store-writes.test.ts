// bench/store-writes.ts runs: at a tiny size it prints one JSON line per
// number in flight, each with every write done and its latency, rate and CPU.

import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonLines, runBench } from "../helpers/bench-run.ts";

test("store-writes bench: durable writes 1 and 64 in flight, every one done", { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await runBench("bench/store-writes.ts", ["--count", "200", "--block", "100"]);
  assert.equal(code, 0, stderr);
  const lines = jsonLines(stdout);
  assert.deepEqual(
    lines.map((l) => [l.workload, l.store, l.inflight, l.writes]),
    [
      ["store-writes", "this", 1, 200],
      ["store-writes", "this", 64, 200],
    ],
  );
  for (const l of lines) {
    for (const k of ["p50_ms", "writes_per_s", "cpu_us_per_write"]) assert.ok(typeof l[k] === "number" && (l[k] as number) > 0, `${k}: ${JSON.stringify(l)}`);
  }
});
