// bench/store-keys.ts runs: at a tiny size it prints one JSON line per
// workload, each counting every object, with names short and 253 long.

import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonLines, runBench } from "../helpers/bench-run.ts";

for (const length of [9, 253]) {
  test(`store-keys bench with ${length}-character names: every workload finds every object`, { timeout: 90_000 }, async () => {
    const { code, stdout, stderr } = await runBench("bench/store-keys.ts", ["--objects", "300", "--rounds", "1", "--name-length", String(length)]);
    assert.equal(code, 0, stderr);
    const lines = jsonLines(stdout);
    assert.deepEqual(
      lines.map((l) => l.workload),
      ["get", "list-type", "list-namespace", "list-paginated", "list-past-revision"],
    );
    for (const l of lines) {
      assert.equal(l.bench, "store-keys");
      assert.equal(l.name_length, length);
      assert.equal(l.found, 300, JSON.stringify(l));
      assert.ok(typeof l.per_second === "number" && l.per_second > 0, JSON.stringify(l));
    }
  });
}
