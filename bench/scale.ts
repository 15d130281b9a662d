// Scale: a store of N objects whose history holds all N creates (the issue
// asks 1,000,000 of each; --full), and what a server does on it:
//   - startup: spawn to "listening" on that data dir, against the same on an
//     empty dir (startup must not scan the objects), and RSS after start;
//   - gets of random objects and list pages (limit 500, following continue);
//   - a watch from N/2 events back: time to the first event and to the last,
//     and events/s;
//   - compaction of most of the history (restart with --history-min-events
//     1000 --history-window 1s), its time, and durable creates during it
//     against creates before it (do writes stall?).
// The data dir is written straight through the store (src/store/lmdb.ts,
// fsync off, thousands of writes per commit), so making it takes seconds,
// not an hour of HTTP creates.
//
//   node --import tsx bench/scale.ts [--full] [--scale-objects 100000]
//
// Default: 100,000 objects (a minute or so); --full: 1,000,000.

import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { openLmdbStore } from "../src/store.ts";
import { HttpClient, ensureBenchType } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { cpuSeconds, removeTempDir, rssMb, startSetpoint, tempDir, type ServerHandle } from "./lib/procs.ts";
import { blankResult, emit, note, type Result } from "./lib/report.ts";
import { Histogram, round } from "./lib/stats.ts";

const PAD = "x".repeat(100);
const TYPE = "scaleitems.bench.setpoint.dev";
const NAMESPACES = 10;
const PAGE = 500;

const nameOf = (i: number) => `s-${String(i).padStart(7, "0")}`;
const namespaceOf = (i: number) => `ns-${i % NAMESPACES}`;

/** Writes `count` objects straight through the store, fsync off, `batch` writes per commit. */
async function populate(dataDir: string, count: number): Promise<void> {
  const store = openLmdbStore(dataDir, { durable: false, pollIntervalMs: 0 });
  const created = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const batch = 5000;
  try {
    for (let from = 0; from < count; from += batch) {
      const writes: Array<Promise<unknown>> = [];
      for (let i = from; i < Math.min(count, from + batch); i++) {
        const namespace = namespaceOf(i);
        const name = nameOf(i);
        writes.push(
          store.write({ type: TYPE, namespace, name }, (_current, revision) => ({
            op: "put",
            object: JSON.stringify({
              apiVersion: "bench.setpoint.dev/v1",
              kind: "ScaleItem",
              metadata: { name, namespace, uid: randomUUID(), resourceVersion: String(revision), generation: 1, creationTimestamp: created },
              spec: { i, pad: PAD },
            }),
          })),
        );
      }
      await Promise.all(writes);
    }
  } finally {
    await store.close();
  }
}

async function timedStart(dataDir: string, args: string[] = []): Promise<{ server: ServerHandle; ms: number }> {
  const t0 = performance.now();
  const server = await startSetpoint({ dataDir, args });
  return { server, ms: performance.now() - t0 };
}

async function metric(client: HttpClient, name: string): Promise<number> {
  const res = await client.expect(200, "GET", "/metrics");
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(res.text);
  return m ? Number(m[1]) : NaN;
}

/** Opens an HTTP watch from `from` and reads until `count` events came; resolves with the times (ms) to the first and the last. */
function watchFrom(url: string, path: string, from: number, count: number, timeoutMs: number): Promise<{ firstMs: number; lastMs: number; events: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let firstMs = NaN;
    let events = 0;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`scale: watch got ${events} of ${count} events in ${timeoutMs} ms`));
    }, timeoutMs);
    const req = httpRequest(`${url}${path}?watch=true&resourceVersion=${from}`, (res) => {
      if (res.statusCode !== 200) {
        clearTimeout(timer);
        reject(new Error(`scale: watch answered ${res.statusCode}`));
        res.resume();
        return;
      }
      res.on("data", (chunk: Buffer) => {
        if (events === 0) firstMs = performance.now() - t0;
        for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) events++;
        if (events >= count) {
          clearTimeout(timer);
          const lastMs = performance.now() - t0;
          req.destroy();
          resolve({ firstMs, lastMs, events });
        }
      });
    });
    req.on("error", (err) => {
      if (events < count) {
        clearTimeout(timer);
        reject(err);
      }
    });
    req.end();
  });
}

async function creates(client: HttpClient, path: string, tag: string, count: number, until?: () => boolean): Promise<Histogram> {
  const hist = new Histogram();
  const deadline = Date.now() + 120_000;
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    if (until?.()) break;
    const t0 = performance.now();
    const res = await client.request("POST", path, {
      apiVersion: "bench.setpoint.dev/v1",
      kind: "ScaleItem",
      metadata: { name: `w-${tag}-${i}` },
      spec: { i, pad: PAD },
    });
    if (res.status !== 201) throw new Error(`scale: create answered ${res.status} ${res.text.slice(0, 200)}`);
    hist.record(performance.now() - t0);
  }
  return hist;
}

export async function scale(o: BenchOptions): Promise<Result[]> {
  const n = intOption(o, "scale-objects", o.full ? 1_000_000 : 100_000);
  const results: Result[] = [];
  const params = { objects: n };
  const row = (workload: string, fields: Partial<Result>): void => {
    results.push(emit({ ...blankResult("setpoint", workload, params), ...fields }, o));
  };

  // The same server on an empty data dir: what startup costs without data.
  const emptyDir = tempDir("setpoint-bench-scale-empty-");
  const empty = await timedStart(emptyDir);
  const emptyRss = rssMb(empty.server.pid!);
  await empty.server.stop();
  removeTempDir(emptyDir);

  const dataDir = tempDir("setpoint-bench-scale-");
  // The type first, through the API (a ResourceType is validated there).
  const first = await startSetpoint({ dataDir });
  const c0 = new HttpClient(first.url, { connections: 1 });
  await ensureBenchType(c0, "ScaleItem", "scaleitems");
  c0.close();
  await first.stop();
  const t0 = performance.now();
  note(`scale: writing ${n} objects (and ${n} history events) through the store`);
  await populate(dataDir, n);
  note(`scale: wrote ${n} objects in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Keep the whole history at the first start: nothing may be compacted yet.
  const keep = ["--history-min-events", String(2 * n + 10_000)];
  const { server, ms: startMs } = await timedStart(dataDir, keep);
  const rssAfterStart = rssMb(server.pid!);
  row("scale-startup", {
    p50_ms: round(startMs),
    server_peak_rss_mb: rssAfterStart,
    empty_startup_ms: round(empty.ms),
    empty_rss_mb: emptyRss,
    throughput_unit: "ms",
  });
  const client = new HttpClient(server.url, { connections: 4, timeoutMs: 120_000 });
  const typed = "/apis/bench.setpoint.dev/v1";
  try {
    // Gets of random objects.
    const gets = new Histogram();
    for (let k = 0; k < 1000; k++) {
      const i = Math.floor(Math.random() * n);
      const s = performance.now();
      await client.expect(200, "GET", `${typed}/namespaces/${namespaceOf(i)}/scaleitems/${nameOf(i)}`);
      gets.record(performance.now() - s);
    }
    const g = gets.summary();
    row("scale-get", { p50_ms: g.p50_ms, p99_ms: g.p99_ms, max_ms: g.max_ms, count: g.count, server_peak_rss_mb: rssMb(server.pid!) });

    // List pages across all namespaces, following continue.
    const pages = new Histogram();
    let token: string | undefined;
    for (let k = 0; k < 100; k++) {
      const s = performance.now();
      const res = await client.expect(200, "GET", `${typed}/scaleitems?limit=${PAGE}${token ? `&continue=${encodeURIComponent(token)}` : ""}`);
      pages.record(performance.now() - s);
      token = (JSON.parse(res.text) as { metadata: { continue?: string } }).metadata.continue;
      if (!token) break;
    }
    const p = pages.summary();
    row("scale-list-page", { p50_ms: p.p50_ms, p99_ms: p.p99_ms, max_ms: p.max_ms, count: p.count, page: PAGE, server_peak_rss_mb: rssMb(server.pid!) });

    // A watch from half the history back.
    const head = Number(
      (JSON.parse((await client.expect(200, "GET", `${typed}/scaleitems?limit=1`)).text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion,
    );
    const back = Math.floor(n / 2);
    const cpu0 = cpuSeconds(server.pid!);
    const w = await watchFrom(server.url, `${typed}/scaleitems`, head - back, back, 600_000);
    row("scale-watch", {
      p50_ms: round(w.firstMs),
      max_ms: round(w.lastMs),
      throughput: Math.round((w.events / w.lastMs) * 1000),
      throughput_unit: "events/s",
      server_cpu_s: round(cpuSeconds(server.pid!) - cpu0),
      server_peak_rss_mb: rssMb(server.pid!),
      events_back: back,
    });

    // Durable creates before any compaction: the baseline for the stall check.
    const before = await creates(client, `${typed}/namespaces/ns-0/scaleitems`, "before", 300);
    const b = before.summary();
    row("scale-creates-before-compaction", { p50_ms: b.p50_ms, p99_ms: b.p99_ms, max_ms: b.max_ms, count: b.count });
  } finally {
    client.close();
    await server.stop();
  }

  // Compaction: the same dir with a short history; the compactor's first tick (1 s) drops nearly all of it.
  const short = await timedStart(dataDir, ["--history-min-events", "1000", "--history-window", "1s"]);
  const c2 = new HttpClient(short.server.url, { connections: 2, timeoutMs: 120_000 });
  try {
    const head = await metric(c2, "setpoint_revision");
    const target = head - 1000;
    const started = performance.now();
    let done = NaN;
    const watcher = (async () => {
      const deadline = Date.now() + 600_000;
      while (Date.now() < deadline) {
        if ((await metric(c2, "setpoint_compacted_revision")) >= target) {
          done = performance.now() - started;
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const during = await creates(c2, `${typed}/namespaces/ns-1/scaleitems`, "during", 100_000, () => !Number.isNaN(done));
    await watcher;
    const d = during.summary();
    row("scale-compaction", {
      p50_ms: round(done),
      throughput_unit: "ms",
      compacted_events: target,
      note: "from server start; the compactor's first tick is 1 s after it",
    });
    row("scale-creates-during-compaction", { p50_ms: d.p50_ms, p99_ms: d.p99_ms, max_ms: d.max_ms, count: d.count });
  } finally {
    c2.close();
    await short.server.stop();
  }
  removeTempDir(dataDir);
  return results;
}

runStandalone(import.meta.url, scale);
