// Soak: the server under a steady mix for a long time, to show that its
// memory and its data directory level off instead of growing.
//
//   node --import tsx bench/soak.ts [--duration 30m] [--sample-every 10s] [--full]
//        [--write-rate 100] [--watchers 40] [--stallers 20] [--agents 2]
//
// Duration: 2 minutes by default (the smoke run CI does), 30 minutes with
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
// The server runs with --history-window a tenth of the duration (15 s to
// 5 min) and --history-min-events 1000, so history is compacted within the run.
//
// Output: one `soak-sample` JSON line every --sample-every (server RSS, data
// directory bytes on disk, store used bytes, watchers, revision, cut-offs),
// then one `soak` line with the curve, the write latencies, and whether RSS
// and the data directory levelled off: the highest value of the last quarter
// of the run is within 10% (plus 16 MiB for RSS, 4 MiB for the data dir) of
// the highest value of the second quarter.

import { randomUUID } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import { parseDuration } from "../src/cli/flags.ts";
import { BENCH_GROUP, HttpClient, ensureBenchType } from "./lib/clients.ts";
import { runStandalone } from "./lib/main.ts";
import { intOption, type BenchOptions } from "./lib/options.ts";
import { cpuSeconds, peakRssMb, rssMb, spawnTracked, startSetpoint, stopChild, tempDir, tsxArgs } from "./lib/procs.ts";
import { emit, note, type Result } from "./lib/report.ts";
import { Histogram, round } from "./lib/stats.ts";

const OBJECTS = 1000;
const PAD = "x".repeat(2000);
const MiB = 1024 * 1024;

interface Sample {
  t_s: number;
  rss_mb: number;
  data_dir_bytes: number;
  used_bytes: number;
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

/** Highest value of `xs` between fractions `from` and `to` of the run. */
function peak(samples: Sample[], pick: (s: Sample) => number, from: number, to: number): number {
  const end = samples.at(-1)?.t_s ?? 0;
  const xs = samples.filter((s) => s.t_s >= end * from && s.t_s <= end * to).map(pick);
  return xs.length ? Math.max(...xs) : NaN;
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
  const historyWindowMs = Math.max(15_000, Math.min(300_000, Math.round(durationMs / 10)));
  const dataDir = tempDir("setpoint-bench-soak-");
  const server = await startSetpoint({
    grpc: true,
    dataDir,
    args: ["--history-window", `${historyWindowMs}ms`, "--history-min-events", "1000", "--watch-buffer-bytes", "256Ki", "--workers", "1", "--max-watches-per-user", "0"],
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
    const body = (i: number, seq: number) => ({ apiVersion: `${BENCH_GROUP}/v1`, kind: "SoakItem", metadata: { name: `s-${i}`, labels: { shard: String(i % 10) } }, spec: { seq, pad: PAD } });
    for (let i = 0; i < OBJECTS; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, OBJECTS - i) }, (_, j) => client.expect(201, "POST", path, body(i + j, 0))));
    }
    note(`soak: ${OBJECTS} objects; running ${durationMs / 1000} s with ${writeRate} writes/s, ${watcherCount} watchers, ${stallerCount} stalling watchers, ${agentCount} agents; history window ${historyWindowMs / 1000} s`);

    const wsUrl = server.url.replace(/^http/, "ws") + path;
    for (let i = 0; i < watcherCount; i++) watchers.push(new ResumingWatcher(wsUrl, server.token, 0));
    for (let i = 0; i < stallerCount; i++) stallers.push(new ResumingWatcher(wsUrl, server.token, 0));
    for (let i = 0; i < agentCount; i++) {
      const args = { system: "setpoint", url: server.url, grpc: server.grpc, group: BENCH_GROUP, plural, namespace: "default", workers: 8 };
      agents.push(spawnTracked(process.execPath, tsxArgs("bench/lib/reconcile-agent.ts", [JSON.stringify(args)]), { stdio: ["ignore", "ignore", "inherit", "ipc"] }));
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
      const s: Sample = {
        t_s: round((Date.now() - started) / 1000, 1)!,
        rss_mb: rssMb(pid),
        data_dir_bytes: diskUsage(dataDir),
        used_bytes: metric(text, "setpoint_store_used_bytes"),
        watchers: metric(text, "setpoint_watchers"),
        revision: metric(text, "setpoint_revision"),
        compacted: metric(text, "setpoint_compacted_revision"),
        cut_off: metric(text, "setpoint_watchers_cut_off_total"),
      };
      samples.push(s);
      emit({ system: "setpoint", workload: "soak-sample", params: { duration_s: durationMs / 1000 }, p50_ms: null, p99_ms: null, max_ms: null, throughput: null, throughput_unit: "", server_cpu_s: null, server_peak_rss_mb: null, ...s }, o);
    };
    await sample();
    while (Date.now() - started < durationMs) {
      await new Promise((r) => setTimeout(r, Math.min(sampleMs, durationMs - (Date.now() - started))));
      await sample();
    }
    for (const t of timers) clearInterval(t);
    const elapsed = (Date.now() - started) / 1000;

    const rssQ2 = peak(samples, (s) => s.rss_mb, 0.25, 0.5);
    const rssQ4 = peak(samples, (s) => s.rss_mb, 0.75, 1);
    const diskQ2 = peak(samples, (s) => s.data_dir_bytes, 0.25, 0.5);
    const diskQ4 = peak(samples, (s) => s.data_dir_bytes, 0.75, 1);
    const rssLevelled = rssQ4 <= rssQ2 * 1.1 + 16;
    const diskLevelled = diskQ4 <= diskQ2 * 1.1 + 4 * MiB;
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
        rss_q2_peak_mb: rssQ2,
        rss_q4_peak_mb: rssQ4,
        rss_levelled_off: rssLevelled,
        data_dir_q2_peak_bytes: diskQ2,
        data_dir_q4_peak_bytes: diskQ4,
        data_dir_levelled_off: diskLevelled,
        levelled_off: rssLevelled && diskLevelled,
        writes,
        write_errors: writeErrors,
        lists,
        list_errors: listErrors,
        watch_events: all.reduce((n, w) => n + w.events, 0),
        cut_off: stallers.reduce((n, w) => n + w.cutOff, 0) + watchers.reduce((n, w) => n + w.cutOff, 0),
        reconnects: all.reduce((n, w) => n + w.reconnects, 0),
        relists: all.reduce((n, w) => n + w.relists, 0),
        history_window_s: historyWindowMs / 1000,
        curve: samples.map((s) => [s.t_s, s.rss_mb, s.data_dir_bytes]),
      },
      o,
    );
    note(
      `soak: RSS peak ${rssQ2} MiB in the 2nd quarter, ${rssQ4} MiB in the last (${rssLevelled ? "levelled off" : "still growing"}); ` +
        `data dir ${round(diskQ2 / MiB, 1)} → ${round(diskQ4 / MiB, 1)} MiB (${diskLevelled ? "levelled off" : "still growing"}); ` +
        `${writes} writes (${writeErrors} errors), ${result.cut_off} cut-offs, ${result.reconnects} reconnects`,
    );
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
