// Compaction on a long history, in process: writes N changes straight
// through the LMDB store (fsync off), then compacts all but 1,000 of them and
// reports how long that took, the longest stall of the event loop during it
// (a write waits at least that long), and the log records read.
//
//   node --import tsx bench/compaction.ts [--full] [--compaction-changes 200000]
//
// Default 200,000 changes; --full 1,000,000.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { openLmdbStore } from "../src/store.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { round } from "./lib/stats.ts";

export async function compaction(o: BenchOptions): Promise<Result[]> {
  const n = intOption(o, "compaction-changes", o.full ? 1_000_000 : 200_000);
  const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-compaction-"));
  let clock = 0;
  const store = openLmdbStore(dir, { durable: false, pollIntervalMs: 0, now: () => clock });
  try {
    const object = JSON.stringify({ spec: { pad: "x".repeat(300) } });
    for (let from = 0; from < n; from += 5000) {
      const writes = [];
      for (let i = from; i < Math.min(n, from + 5000); i++) {
        clock = i;
        writes.push(store.write({ type: "t", namespace: "ns", name: `o-${i}` }, () => ({ op: "put", object })));
      }
      await Promise.all(writes);
    }
    note(`compaction: ${n} changes written`);
    clock = n + 1_000_000;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    await new Promise((r) => setTimeout(r, 50)); // the delay timer ticks before compaction starts
    const t0 = performance.now();
    const compacted = await store.compact({ minEvents: 1000, windowMs: 1 });
    const ms = performance.now() - t0;
    delay.disable();
    return [
      emit(
        {
          system: "setpoint",
          workload: "compaction",
          params: { changes: n },
          p50_ms: round(ms),
          p99_ms: null,
          max_ms: round(delay.max / 1e6),
          throughput: Math.round((compacted / ms) * 1000),
          throughput_unit: "changes dropped/s",
          server_cpu_s: null,
          server_peak_rss_mb: null,
          compacted,
          longest_event_loop_stall_ms: round(delay.max / 1e6),
        },
        o,
      ),
    ];
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

runStandalone(import.meta.url, compaction);
