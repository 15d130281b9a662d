// The benches run: fan-out and reconcile at a tiny size against Setpoint only print one
// well-formed JSON line per result, its delivery check passes, and the table
// follows. (The full side-by-side run is `npm run bench`.)

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeEntry } from "../helpers/node-entry.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeEntry(args[0]!), ...args.slice(1)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGINT"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The bench's machine-readable result lines (one JSON object per line). */
function resultLines(stdout: string): Record<string, any>[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

test("fan-out with 10 watchers and 10 changes per phase prints valid result lines, every delivery verified, with 1 and 2 server workers", {
  timeout: 200_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const deliveryLog = join(dir, "deliveries.jsonl");
  const { code, stdout, stderr } = await run(
    ["bench/fanout.ts", "--systems", "setpoint", "--watchers", "10", "--changes", "10", "--warmup", "20", "--delivery-log", deliveryLog],
    190_000,
  );
  assert.equal(code, 0, stderr.slice(-3000));
  // --delivery-log: one line per change and run (20 warm-up, 3 phases of 10; 1 and 2 server
  // workers), each with the first and last receipt in each of the 2 watcher processes and
  // the disk probe's longest sync meanwhile (0 when none overlapped the change).
  const changes = readFileSync(deliveryLog, "utf8")
    .trim()
    .split("\n")
    .map(
      (l) =>
        JSON.parse(l) as {
          system: string;
          workers?: number;
          phase: string;
          seq: number;
          sentUs: number;
          firstMs: number[];
          lastMs: number[];
          diskSyncMs: number;
        },
    );
  for (const workers of [undefined, 2]) {
    const run = changes.filter((c) => c.workers === workers);
    assert.deepEqual(
      run.map((c) => c.seq),
      Array.from({ length: 50 }, (_, i) => i),
      `workers ${workers}`,
    );
    assert.deepEqual([...new Set(run.map((c) => c.phase))], ["warm-up", "10/s", "100/s", "burst"]);
    for (const c of run) {
      assert.equal(c.system, "setpoint");
      assert.ok(c.sentUs > 0, JSON.stringify(c));
      assert.equal(c.firstMs.length, 2, JSON.stringify(c));
      for (let p = 0; p < 2; p++) assert.ok(c.firstMs[p]! > 0 && c.lastMs[p]! >= c.firstMs[p]!, JSON.stringify(c));
      assert.ok(c.diskSyncMs >= 0, `the disk probe's longest sync meanwhile: ${JSON.stringify(c)}`);
    }
  }
  const results = resultLines(stdout);
  const phases = results.filter((r) => r.workload === "fanout" && r.params.workers === undefined);
  assert.deepEqual(
    phases.map((r) => r.params.phase),
    ["10/s", "100/s", "burst"],
  );
  for (const r of results) {
    assert.equal(r.system, "setpoint");
    for (const field of ["workload", "params", "p50_ms", "p99_ms", "max_ms", "throughput", "server_cpu_s", "server_peak_rss_mb"]) {
      assert.ok(field in r, `${field} missing in ${JSON.stringify(r)}`);
    }
  }
  for (const r of phases) {
    assert.equal(r.params.watchers, 10);
    assert.equal(r.deliveries, 100, JSON.stringify(r));
    assert.ok(r.p50_ms > 0 && r.p99_ms >= r.p50_ms && r.max_ms >= r.p99_ms, JSON.stringify(r));
    assert.ok(r.throughput > 0, JSON.stringify(r));
    assert.ok(r.server_cpu_s >= 0 && r.server_peak_rss_mb > 0, JSON.stringify(r));
  }
  const two = results.filter((r) => r.params.workers === 2);
  assert.deepEqual(
    two.map((r) => r.params.phase ?? r.workload),
    ["10/s", "100/s", "burst", "fanout-total"],
    "the same phases with --workers 2",
  );
  const total2 = two.find((r) => r.workload === "fanout-total")!;
  assert.equal(total2.verified, true, JSON.stringify(total2));
  assert.ok(total2.server_cpu_s > 0, "the workers' CPU counts");
  const total = results.find((r) => r.workload === "fanout-total" && r.params.workers === undefined);
  assert.ok(total, "no fanout-total line");
  assert.equal(total.verified, true, JSON.stringify(total));
  assert.equal(total.deliveries, 300);
  assert.equal(total.missing, 0);
  assert.equal(total.duplicates, 0);
  assert.equal(total.out_of_order, 0);
  assert.match(stdout, /\| workload \| params \| metric \| Setpoint \| etcd \| floor \| Setpoint\/etcd \| Setpoint\/floor \|/);
});

test("reconcile at a tiny size: every change reconciled, through one server process and through two (--setpoint-workers 1,2)", {
  timeout: 200_000,
}, async () => {
  const { code, stdout, stderr } = await run(
    ["bench/reconcile.ts", "--systems", "setpoint", "--sequential", "3", "--concurrent", "2", "--rounds", "2", "--setpoint-workers", "1,2"],
    190_000,
  );
  assert.equal(code, 0, stderr.slice(-3000));
  const results = resultLines(stdout);
  assert.deepEqual(
    results.map((r) => [r.workload, r.params.mode, r.params.workers ?? 1]),
    [
      ["reconcile", "sequential", 1],
      ["reconcile", "concurrent", 1],
      ["reconcile", "sequential", 2],
      ["reconcile", "concurrent", 2],
    ],
  );
  for (const r of results) {
    assert.equal(r.system, "setpoint");
    assert.equal(r.failures, 0, JSON.stringify(r));
    assert.equal(r.completed, r.params.mode === "sequential" ? 3 : 4, JSON.stringify(r));
    // Counted over the server process and its workers (too few changes here for a tick of CPU time to show).
    assert.equal(typeof r.server_cpu_s, "number", JSON.stringify(r));
  }
});

test("paced-cpu with 5 watchers prints one result line per phase with the server's CPU per change, thread by thread", { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await run(["bench/paced-cpu.ts", "--watchers", "5", "--count", "5", "--duration", "1"], 110_000);
  assert.equal(code, 0, stderr.slice(-3000));
  const results = resultLines(stdout);
  assert.deepEqual(
    results.map((r) => r.params.phase),
    ["idle", "10/s", "100/s"],
  );
  assert.ok(results[0]!.cpu_ms_per_s >= 0, JSON.stringify(results[0]));
  for (const r of results.slice(1)) {
    assert.equal(r.workload, "paced-cpu");
    assert.ok(r.cpu_ms_per_change > 0 && r.main_ms_per_change > 0 && r.other_threads_ms_per_change >= 0, JSON.stringify(r));
    assert.ok(r.main_switches_per_change > 0, JSON.stringify(r));
  }
});
