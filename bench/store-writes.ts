// Durable writes through the LMDB store alone (no HTTP): creates one at a
// time and 64 in flight, with p50 latency, writes/s and the process's CPU per
// write (every thread: lmdb-js's write thread and the fdatasyncs included).
// With --at REV the store as it was at that git revision runs in the same
// process, in alternating blocks of writes, so that both see the same load.
// Prints one JSON line per measurement on stdout.
//
//   node --import tsx bench/store-writes.ts [--count 3000] [--block 100] [--at GIT-REV]

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { openLmdbStore } from "../src/store/lmdb.ts";
import type { Store } from "../src/store/types.ts";
import { standaloneArgs } from "./lib/options.ts";

const values = standaloneArgs(
  "usage: node --import tsx bench/store-writes.ts [--count 3000] [--block 100] [--at GIT-REV]\n\nDurable writes through the LMDB store alone, one at a time and 64 in flight; --at runs the store as it was at a git revision beside it. One JSON line per measurement.",
  { count: "3000", block: "100", at: undefined },
  ["count", "block"],
);
const COUNT = Number(values.count);
const BLOCK = Number(values.block);
const REPO = fileURLToPath(new URL("..", import.meta.url));
const PAD = "x".repeat(300);

/** src/ as it was at `rev`, under node_modules/.cache (so that its imports of packages resolve), and its openLmdbStore. */
async function storeAt(rev: string): Promise<typeof openLmdbStore> {
  const dir = join(REPO, "node_modules", ".cache", "setpoint-bench", `store-at-${rev}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync("sh", ["-c", `git archive ${rev} src | tar -x -C ${JSON.stringify(dir)}`], { cwd: REPO });
  const mod = (await import(pathToFileURL(join(dir, "src/store/lmdb.ts")).href)) as { openLmdbStore: typeof openLmdbStore };
  return mod.openLmdbStore;
}

interface Sample {
  latencies: number[];
  seconds: number;
  cpuMs: number;
  writes: number;
}

async function block(store: Store, from: number, count: number, inflight: number, into: Sample): Promise<void> {
  let next = from;
  const end = from + count;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(inflight, count) }, async () => {
      while (next < end) {
        const i = next++;
        const s = performance.now();
        await store.write({ type: "items.bench.setpoint.dev", namespace: "default", name: `w-${i}` }, (_current, revision) => ({
          op: "put",
          object: JSON.stringify({ metadata: { name: `w-${i}`, namespace: "default", resourceVersion: String(revision) }, spec: { i, pad: PAD } }),
        }));
        into.latencies.push(performance.now() - s);
      }
    }),
  );
  into.seconds += (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  into.cpuMs += (cpu.user + cpu.system) / 1000;
  into.writes += count;
}

const systems: Array<{ name: string; open: typeof openLmdbStore }> = [{ name: "this", open: openLmdbStore }];
if (values.at) systems.push({ name: values.at, open: await storeAt(values.at) });
const dirs: string[] = [];
const stores = systems.map((s) => {
  const dir = mkdtempSync(join(tmpdir(), "setpoint-bench-store-writes-"));
  dirs.push(dir);
  return { ...s, store: s.open(dir, { pollIntervalMs: 0 }) };
});
let offset = 0;
for (const inflight of [1, 64]) {
  const samples = stores.map(() => ({ latencies: [], seconds: 0, cpuMs: 0, writes: 0 }) as Sample);
  for (const s of stores) await block(s.store, (offset += BLOCK), BLOCK, inflight, { latencies: [], seconds: 0, cpuMs: 0, writes: 0 }); // warm-up
  for (let done = 0; done < COUNT; done += BLOCK) {
    for (const [i, s] of stores.entries()) {
      await block(s.store, offset, BLOCK, inflight, samples[i]!);
      offset += BLOCK;
    }
  }
  for (const [i, s] of stores.entries()) {
    const m = samples[i]!;
    const sorted = m.latencies.sort((a, b) => a - b);
    const line = {
      workload: "store-writes",
      store: s.name,
      inflight,
      writes: m.writes,
      p50_ms: Number(sorted[Math.floor(sorted.length / 2)]!.toFixed(3)),
      p99_ms: Number(sorted[Math.floor(sorted.length * 0.99)]!.toFixed(3)),
      writes_per_s: Math.round(m.writes / m.seconds),
      cpu_us_per_write: Math.round((m.cpuMs / m.writes) * 1000),
    };
    process.stdout.write(JSON.stringify(line) + "\n");
  }
}
for (const s of stores) await s.store.close();
for (const d of dirs) rmSync(d, { recursive: true, force: true });
