// bench/log-codec.ts runs: at a tiny size it prints one JSON line per
// encoding and workload, each with a time per record.

import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonLines, runBench } from "../helpers/bench-run.ts";

test("log-codec bench: msgpack and binary records encoded, put and read back", { timeout: 90_000 }, async () => {
  const { code, stdout, stderr } = await runBench("bench/log-codec.ts", ["--records", "200", "--rounds", "1"]);
  assert.equal(code, 0, stderr);
  const lines = jsonLines(stdout);
  assert.deepEqual(
    lines.map((l) => `${l.encoding} ${l.workload}`),
    ["msgpack encode", "msgpack put", "msgpack read", "binary encode", "binary put", "binary read"],
  );
  for (const l of lines) {
    assert.equal(l.bench, "log-codec");
    assert.equal(l.records, 256, "rounded up to whole transactions of 64");
    assert.ok(typeof l.median_us_per_record === "number" && l.median_us_per_record > 0, JSON.stringify(l));
  }
});
