// Soak: the server under a steady mix for a long time, to show that its
// memory and its data directory level off instead of growing.
//
//   node --import tsx bench/soak.ts [--duration 30m] [--sample-every 10s] [--full]
//        [--write-rate 100] [--watchers 40] [--stallers 20] [--agents 2] [--history-window 3m]
//
// Duration: 2 minutes by default (.ci/run's smoke run; the soak test in
// `npm test` runs 40 s), 30 minutes with
// --full, or --duration. The mix, all paced and bounded:
//   - writes at --write-rate per second over a fixed set of 1,000 objects of
//     ~2 KiB (updates, and deletes followed by re-creates), so the live data
//     stays the same size and only history can grow;
//   - --watchers WebSocket watchers that keep up;
//   - --stallers WebSocket watchers that stop reading for 10–40 s at a time,
//     get cut off (close code 4008) when their backlog passes the server's
//     bound (--watch-buffer-bytes 256Ki here), and resume from their last
//     revision (relisting on 410);
//   - a list of everything and a label-selector list every second;
//   - --agents SDK agents (gRPC list, WebSocket watch) writing status.
// History is kept by count, not by time, so that what the store and the
// watch hub's replay window hold does not depend on how fast this machine
// manages to write (on a shared machine that changes during the run): the
// server runs with --history-min-events N (a tenth of the run's seconds times
// 100, between 1,000 and 5,000) and --history-window 5s, so compaction keeps
// about N changes. `--history-window D` keeps D of history instead (then the
// data directory follows the write rate).
//
// Output: one `soak-sample` JSON line every --sample-every: server RSS and its
// parts (anonymous memory, mapped files: LMDB's data file is memory-mapped),
// V8 heap used and reserved, external memory and Buffers, the hub's replay
// window (events, bytes), the data directory's bytes on disk, the store's used
// bytes, changes retained, writes, watchers, revision, cut-offs. Then one
// `soak` line with the curve, the write latencies, and for RSS, its anonymous
// part, and the data directory whether they levelled off, by the criterion in
// its `criterion` field (bench/lib/levelling.ts): the median of the last third
// of the run is at most the median of the middle third times 1.05, and the
// last third's highest value at most the highest of the first two thirds
// times 1.05 (the first third is warm-up); `levelled_off` is RSS and data
// directory both.

import { randomUUID } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import { parseDuration } from "../src/cli/flags.ts";
import { BENCH_GROUP, HttpClient, ensureBenchType } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { levelling, levellingCriterion } from "./lib/levelling.ts";
import { cpuSeconds, peakRssMb, rssMb, rssPartsMb, spawnTracked, startSetpoint, stopChild, tempDir, tsxArgs } from "./lib/procs.ts";
import { blankResult, emit, note, type Result } from "./lib/report.ts";
import { Histogram, round } from "./lib/stats.ts";

const OBJECTS = 1000;
const PAD = "x".repeat(2000);
const MiB = 1024 * 1024;

interface Sample {
  t_s: number;
  rss_mb: number;
  /** RSS as anonymous memory and as mapped files (the binary, LMDB's memory-mapped data file). */
  rss_anon_mb: number;
  rss_file_mb: number;
  /** Where the anonymous memory goes: the V8 heap (used, and reserved), memory outside it, and of that the Buffers. */
  heap_used_mb: number;
  heap_total_mb: number;
  external_mb: number;
  array_buffers_mb: number;
  /** The hub's in-memory replay window. */
  window_events: number;
  window_mb: number;
  data_dir_bytes: number;
  used_bytes: number;
  /** Changes kept in the store's history (revision minus compacted revision). */
  retained_events: number;
  /** Writes acknowledged so far. */
  writes: number;
  watchers: number;
  revision: number;
  compacted: number;
  cut_off: number;
}

/** Bytes the files under `dir` take on disk (allocated blocks, as `du` counts). */
function diskUsage(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir, { recursive: true })) {
    try {
      if (String(name).endsWith(".heapsnapshot")) continue; // SETPOINT_SOAK_NODE_ARGS=--heapsnapshot-signal
      const st = statSync(join(dir, String(name)));
      if (st.isFile()) total += st.blocks * 512;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

/** A WebSocket watcher that resumes from its last revision whenever it is cut off; `stall()` stops its reading for a while. */
class ResumingWatcher {
  revision = 0;
  events = 0;
  cutOff = 0;
  reconnects = 0;
  relists = 0;
  #ws: WebSocket | undefined;
  #stopped = false;
  readonly #url: string;
  readonly #token: string | undefined;

  constructor(url: string, token: string | undefined, revision: number) {
    this.#url = url;
    this.#token = token;
    this.revision = revision;
    this.#open();
  }

  #open(): void {
    if (this.#stopped) return;
    const from = this.revision > 0 ? `&resourceVersion=${this.revision}` : "";
    const ws = new WebSocket(`${this.#url}?allowWatchBookmarks=true${from}`, { headers: this.#token ? { authorization: `Bearer ${this.#token}` } : {} });
    this.#ws = ws;
    ws.on("message", (data: Buffer) => {
      this.events++;
      const e = JSON.parse(data.toString()) as { type: string; object: { code?: number; metadata?: { resourceVersion?: string } } };
      if (e.type === "ERROR") {
        if (e.object.code === 410) {
          this.relists++;
          this.revision = 0; // start over with the current state
        }
        return;
      }
      const rv = Number(e.object.metadata?.resourceVersion);
      if (rv > this.revision) this.revision = rv;
    });
    ws.on("close", (code) => {
      if (code === 4008) this.cutOff++;
      if (this.#stopped) return;
      this.reconnects++;
      setTimeout(() => this.#open(), 200);
    });
    ws.on("error", () => {});
  }

  /** Stops reading for `ms` (the socket stays open; the server's backlog grows). */
  stall(ms: number): void {
    const socket = (this.#ws as unknown as { _socket?: { pause(): void; resume(): void } } | undefined)?._socket;
    if (!socket) return;
    socket.pause();
    setTimeout(() => socket.resume(), ms);
  }

  stop(): void {
    this.#stopped = true;
    this.#ws?.terminate();
  }
}

export async function soak(o: BenchOptions): Promise<Result[]> {
  if (!o.systems.includes("setpoint") || o.target) return [];
  const durationMs = typeof o.values.duration === "string" ? parseDuration(o.values.duration) : o.full ? 30 * 60_000 : 2 * 60_000;
  const sampleMs = typeof o.values["sample-every"] === "string" ? parseDuration(o.values["sample-every"]) : Math.max(1000, Math.min(10_000, durationMs / 60));
  const writeRate = intOption(o, "write-rate", 100);
  const watcherCount = intOption(o, "watchers", 40);
  const stallerCount = intOption(o, "stallers", 20);
  const agentCount = intOption(o, "agents", 2);
  const byTime = typeof o.values["history-window"] === "string";
  const historyWindowMs = byTime ? parseDuration(o.values["history-window"] as string) : 5000;
  const historyEvents = byTime ? 1000 : Math.max(1000, Math.min(5000, Math.round(durationMs / 100)));
  const dataDir = tempDir("setpoint-bench-soak-");
  const server = await startSetpoint({
    grpc: true,
    dataDir,
    // For a closer look, e.g. SETPOINT_SOAK_NODE_ARGS=--heapsnapshot-signal=SIGUSR2 (snapshots land in the data dir).
    nodeArgs: process.env.SETPOINT_SOAK_NODE_ARGS?.split(" ").filter(Boolean),
    args: [
      "--history-window",
      `${historyWindowMs}ms`,
      "--history-min-events",
      String(historyEvents),
      "--watch-buffer-bytes",
      "256Ki",
      "--workers",
      "1",
      "--max-watches-per-user",
      "0",
    ],
  });
  const pid = server.pid!;
  const client = new HttpClient(server.url, { connections: 16 });
  const plural = `soak${randomUUID().slice(0, 8)}`;
  const watchers: ResumingWatcher[] = [];
  const stallers: ResumingWatcher[] = [];
  const agents: ChildProcess[] = [];
  const timers: NodeJS.Timeout[] = [];
  const latency = new Histogram();
  let writes = 0;
  let writeErrors = 0;
  let lists = 0;
  let listErrors = 0;
  const samples: Sample[] = [];
  try {
    const path = await ensureBenchType(client, "SoakItem", plural);
    const body = (i: number, seq: number) => ({
      apiVersion: `${BENCH_GROUP}/v1`,
      kind: "SoakItem",
      metadata: { name: `s-${i}`, labels: { shard: String(i % 10) } },
      spec: { seq, pad: PAD },
    });
    for (let i = 0; i < OBJECTS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, OBJECTS - i) }, (_, j) => client.expect(201, "POST", path, body(i + j, 0))));
    }
    note(
      `soak: ${OBJECTS} objects; running ${durationMs / 1000} s with ${writeRate} writes/s, ${watcherCount} watchers, ${stallerCount} stalling watchers, ${agentCount} agents; history kept: ${byTime ? `${historyWindowMs / 1000} s` : `${historyEvents} changes`}`,
    );

    const wsUrl = server.url.replace(/^http/, "ws") + path;
    for (let i = 0; i < watcherCount; i++) watchers.push(new ResumingWatcher(wsUrl, server.token, 0));
    for (let i = 0; i < stallerCount; i++) stallers.push(new ResumingWatcher(wsUrl, server.token, 0));
    for (let i = 0; i < agentCount; i++) {
      const args = { system: "setpoint", url: server.url, grpc: server.grpc, group: BENCH_GROUP, plural, namespace: "default", workers: 8 };
      agents.push(
        spawnTracked(process.execPath, tsxArgs("bench/lib/reconcile-agent.ts", [JSON.stringify(args)]), { stdio: ["ignore", "ignore", "inherit", "ipc"] }),
      );
    }

    // Writes, paced: every 100 ms a tenth of the rate. Most are updates; some delete and re-create.
    let seq = 0;
    const writeOne = async () => {
      const i = Math.floor(Math.random() * OBJECTS);
      const t0 = performance.now();
      try {
        if (Math.random() < 0.1) {
          const del = await client.request("DELETE", `${path}/s-${i}`);
          if (del.status !== 200 && del.status !== 404) throw new Error(`delete: ${del.status}`);
          const add = await client.request("POST", path, body(i, ++seq));
          if (add.status !== 201 && add.status !== 409) throw new Error(`create: ${add.status}`);
        } else {
          const res = await client.request("PATCH", `${path}/s-${i}`, { spec: { seq: ++seq } }, "application/merge-patch+json");
          if (res.status !== 200 && res.status !== 404) throw new Error(`patch: ${res.status}`);
        }
        writes++;
        latency.record(performance.now() - t0);
      } catch {
        writeErrors++;
      }
    };
    let inFlight = 0;
    timers.push(
      setInterval(() => {
        for (let k = 0; k < writeRate / 10 && inFlight < 64; k++) {
          inFlight++;
          void writeOne().finally(() => inFlight--);
        }
      }, 100),
    );
    // Lists.
    timers.push(
      setInterval(() => {
        for (const q of ["", "?labelSelector=shard%3D3"]) {
          void client.request("GET", path + q).then(
            (r) => (r.status === 200 ? lists++ : listErrors++),
            () => listErrors++,
          );
        }
      }, 1000),
    );
    // Stalls: every second one staller stops reading for 10–40 s.
    let nextStaller = 0;
    timers.push(
      setInterval(() => {
        if (stallers.length === 0) return;
        stallers[nextStaller++ % stallers.length]!.stall(10_000 + Math.random() * 30_000);
      }, 1000),
    );

    // Samples.
    const started = Date.now();
    const cpu0 = cpuSeconds(pid);
    const sample = async () => {
      const text = (await client.request("GET", "/metrics")).text;
      const mb = (name: string) => round(metric(text, name) / MiB, 1)!;
      const parts = rssPartsMb(pid);
      const s: Sample = {
        t_s: round((Date.now() - started) / 1000, 1)!,
        rss_mb: rssMb(pid),
        rss_anon_mb: parts.anon,
        rss_file_mb: parts.file,
        heap_used_mb: mb("setpoint_nodejs_heap_size_used_bytes"),
        heap_total_mb: mb("setpoint_nodejs_heap_size_total_bytes"),
        external_mb: mb("setpoint_nodejs_external_memory_bytes"),
        array_buffers_mb: mb("setpoint_nodejs_array_buffers_bytes"),
        window_events: metric(text, "setpoint_watch_window_events"),
        window_mb: mb("setpoint_watch_window_bytes"),
        data_dir_bytes: diskUsage(dataDir),
        used_bytes: metric(text, "setpoint_store_used_bytes"),
        retained_events: metric(text, "setpoint_revision") - metric(text, "setpoint_compacted_revision"),
        writes,
        watchers: metric(text, "setpoint_watchers"),
        revision: metric(text, "setpoint_revision"),
        compacted: metric(text, "setpoint_compacted_revision"),
        cut_off: metric(text, "setpoint_watchers_cut_off_total"),
      };
      samples.push(s);
      emit({ ...blankResult("setpoint", "soak-sample", { duration_s: durationMs / 1000 }), ...s }, o);
    };
    await sample();
    while (Date.now() - started < durationMs) {
      await new Promise((r) => setTimeout(r, Math.min(sampleMs, durationMs - (Date.now() - started))));
      await sample();
    }
    for (const t of timers) clearInterval(t);
    const elapsed = (Date.now() - started) / 1000;

    const curve = (pick: (s: Sample) => number) => samples.map((s) => [s.t_s, pick(s)] as const);
    const rss = levelling(curve((s) => s.rss_mb));
    const rssAnon = levelling(curve((s) => s.rss_anon_mb));
    const disk = levelling(curve((s) => s.data_dir_bytes));
    const sum = latency.summary();
    const all = [...watchers, ...stallers];
    const result = emit(
      {
        system: "setpoint",
        workload: "soak",
        params: { duration_s: durationMs / 1000, write_rate: writeRate, watchers: watcherCount, stallers: stallerCount, agents: agentCount },
        p50_ms: sum.p50_ms,
        p99_ms: sum.p99_ms,
        max_ms: sum.max_ms,
        throughput: round(writes / elapsed),
        throughput_unit: "writes/s",
        server_cpu_s: round(cpuSeconds(pid) - cpu0),
        server_peak_rss_mb: peakRssMb(pid),
        criterion: levellingCriterion(0.05),
        rss_levelled_off: rss.levelled_off,
        rss_anon_levelled_off: rssAnon.levelled_off,
        data_dir_levelled_off: disk.levelled_off,
        levelled_off: rss.levelled_off && disk.levelled_off,
        rss_mb: rss,
        rss_anon_mb: rssAnon,
        data_dir_bytes: disk,
        writes,
        write_errors: writeErrors,
        lists,
        list_errors: listErrors,
        watch_events: all.reduce((n, w) => n + w.events, 0),
        cut_off: stallers.reduce((n, w) => n + w.cutOff, 0) + watchers.reduce((n, w) => n + w.cutOff, 0),
        reconnects: all.reduce((n, w) => n + w.reconnects, 0),
        relists: all.reduce((n, w) => n + w.relists, 0),
        history_window_s: historyWindowMs / 1000,
        history_min_events: historyEvents,
        curve: samples.map((s) => [s.t_s, s.rss_mb, s.data_dir_bytes]),
      },
      o,
    );
    const verdict = (l: { levelled_off: boolean }) => (l.levelled_off ? "levelled off" : "still growing");
    note(
      `soak: RSS median ${rss.middle_median} → ${rss.last_median} MiB from the middle to the last third, top ${rss.last_max} MiB (${verdict(rss)}; anonymous part ${rssAnon.middle_median} → ${rssAnon.last_median}, ${verdict(rssAnon)}); ` +
        `data dir ${round(disk.middle_median / MiB, 1)} → ${round(disk.last_median / MiB, 1)} MiB (${verdict(disk)}); ` +
        `${writes} writes (${writeErrors} errors), ${result.cut_off} cut-offs, ${result.reconnects} reconnects`,
    );
    // A failed write or list fails the run (CI's two-minute smoke run relies on it).
    if (writeErrors + listErrors > 0) process.exitCode = 1;
    return [result];
  } finally {
    for (const t of timers) clearInterval(t);
    for (const w of [...watchers, ...stallers]) w.stop();
    await Promise.all(agents.map((a) => stopChild(a, 3000)));
    client.close();
    await server.stop();
  }
}

runStandalone(import.meta.url, soak);
