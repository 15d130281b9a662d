// The writes bench at a tiny size against Setpoint: its creates go through
// the SDK's HTTP/1.1 transport and once more through node:http (rows marked
// client=node-http), every create acknowledged; the table sets the node:http
// rows against etcd's; a bad --setpoint-client is one clear line.

import assert from "node:assert/strict";
import { test } from "node:test";
import { blankResult, table } from "../../bench/lib/report.ts";
import { jsonLines, runBench } from "../helpers/bench-run.ts";

test("writes bench: creates through the SDK's client and through node:http, every one acknowledged; lists once", { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await runBench(
    "bench/writes.ts",
    ["--systems", "setpoint", "--count", "20", "--list-objects", "30", "--setpoint-workers", "1"],
    110_000,
  );
  assert.equal(code, 0, stderr.slice(-3000));
  const results = jsonLines(
    stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .join("\n"),
  );
  assert.deepEqual(
    results.map((r) => [r.workload, JSON.stringify(r.params)]),
    [
      ["writes", JSON.stringify({ inflight: 1, count: 20 })],
      ["writes", JSON.stringify({ inflight: 64, count: 20 })],
      ["list", JSON.stringify({ objects: 30 })],
      ["writes", JSON.stringify({ inflight: 1, count: 20, client: "node-http" })],
      ["writes", JSON.stringify({ inflight: 64, count: 20, client: "node-http" })],
    ],
  );
  for (const r of results) {
    assert.equal(r.errors, 0, JSON.stringify(r));
    if (r.workload === "writes") assert.equal(r.completed, 20, JSON.stringify(r));
  }
  const list = results.find((r) => r.workload === "list")!;
  // 30 objects of about 250 bytes each came back.
  assert.ok((list.bytes as number) > 30 * 200, JSON.stringify(list));
});

test("the table sets a client=node-http row against etcd's row of the same workload, with the target", () => {
  const row = (system: "setpoint" | "etcd", params: Record<string, string | number>, p50: number) => ({
    ...blankResult(system, "writes", params),
    p50_ms: p50,
  });
  const text = table([
    row("setpoint", { inflight: 1, count: 5 }, 0.4),
    row("etcd", { inflight: 1, count: 5 }, 0.5),
    row("setpoint", { inflight: 1, count: 5, client: "node-http" }, 0.6),
  ]);
  const lines = text.split("\n").filter((l) => l.includes("| p50 ms |"));
  assert.equal(lines.length, 2, text);
  assert.match(lines[0]!, /^\| writes \| inflight=1 count=5 \| p50 ms \| 0\.400 \| 0\.500 \| – \| 0\.80x \| – \| ≤ 1x etcd ✅ \|/);
  assert.match(lines[1]!, /^\| writes \| inflight=1 count=5 client=node-http \| p50 ms \| 0\.600 \| 0\.500 \| – \| 1\.20x \| – \| ≤ 1x etcd ❌ \|/);
});

test("--setpoint-client other than sdk or node-http is refused in one line, exit 2", { timeout: 60_000 }, async () => {
  const bad = await runBench("bench/writes.ts", ["--setpoint-client", "curl"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.equal(bad.stderr, "bench: --setpoint-client must be sdk or node-http, got curl\nRun with --help for the options.\n");
});
