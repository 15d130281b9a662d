// The writes bench at a tiny size against Setpoint: its creates go through
// the SDK's HTTP/1.1 transport and once more through node:http (rows marked
// client=node-http), every create acknowledged; the table sets the node:http
// rows against etcd's; a bad --setpoint-client is one clear line.

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { blankResult, table } from "../../bench/lib/report.ts";
import { jsonLines, runBench } from "../helpers/bench-run.ts";
import { api, createType, startTestServer } from "../helpers/server.ts";

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

test("each row counts the writes refused in that row only, in the JSON lines, --json-out and the table", { timeout: 120_000 }, async () => {
  const server = await startTestServer();
  const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-test-"));
  try {
    // With --count 20 the bench warms up with creates 0-6, then writes 7-26 one
    // at a time and 27-46 at 64 in flight (its node:http run the same again).
    // The bench's own type refuses spec.i above 26: every create of the
    // 64-in-flight rows, none of the others (the list's objects are of another type).
    await createType(api(server.url), {
      group: "bench.setpoint.dev",
      kind: "Item",
      plural: "items",
      schema: { spec: { type: "object", properties: { i: { type: "integer", maximum: 26 } } } },
    });
    const jsonOut = join(dir, "results.jsonl");
    const tableOut = join(dir, "table.md");
    const { code, stdout, stderr } = await runBench(
      "bench/writes.ts",
      ["--target", server.url, "--systems", "setpoint", "--count", "20", "--list-objects", "30", "--json-out", jsonOut, "--table-out", tableOut],
      110_000,
    );
    assert.equal(code, 0, stderr.slice(-3000));
    const printed = jsonLines(
      stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .join("\n"),
    );
    const written = jsonLines(readFileSync(jsonOut, "utf8"));
    assert.deepEqual(written, printed);
    assert.deepEqual(
      written.map((r) => [r.workload, JSON.stringify(r.params), r.errors]),
      [
        ["writes", JSON.stringify({ inflight: 1, count: 20 }), 0],
        ["writes", JSON.stringify({ inflight: 64, count: 20 }), 20],
        ["list", JSON.stringify({ objects: 30 }), 0],
        ["writes", JSON.stringify({ inflight: 1, count: 20, client: "node-http" }), 0],
        ["writes", JSON.stringify({ inflight: 64, count: 20, client: "node-http" }), 20],
      ],
    );
    const lines = readFileSync(tableOut, "utf8").split("\n");
    const noted = (prefix: string) => lines.filter((l) => l.startsWith(prefix) && l.includes("writes refused"));
    assert.deepEqual(noted("| writes | inflight=1 "), [], lines.join("\n"));
    assert.deepEqual(noted("| list |"), [], lines.join("\n"));
    for (const row of ["| writes | inflight=64 count=20 |", "| writes | inflight=64 count=20 client=node-http |"]) {
      const rowLines = lines.filter((l) => l.startsWith(row));
      assert.ok(rowLines.length > 0, lines.join("\n"));
      for (const l of rowLines) assert.match(l, /setpoint: 20 writes refused \|$/, l);
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
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
